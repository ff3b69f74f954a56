"""``opsflow-web``: a live, read-only web view of the run store.

It serves what ``opsflow-run`` writes, from the same store, as pages and
as a JSON API under ``/api/v1/`` whose documents have the shapes of
``opsflow-run --format json``:

==============  ==============================================================
``app``         the Starlette application: routes, templates, static assets
``pages``       what each page and API document shows, from :mod:`opsflow.runs`
``security``    the bind rule, the token check and the response headers
==============  ==============================================================

Nothing here runs, resumes or reverts a run: every route reads. The
command itself is :mod:`opsflow.cmd.web`.
"""

from opsflow.web.app import create_app

__all__ = ["create_app"]
