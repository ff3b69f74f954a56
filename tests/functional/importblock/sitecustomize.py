"""Make chosen packages impossible to import, as if they were not installed.

A directory holding this ``sitecustomize`` is put first on ``PYTHONPATH`` of
an ``opsflow-run`` subprocess; Python imports it at start-up, and it puts a
finder first on ``sys.meta_path`` that refuses every module of the
top-level packages named in ``OPSFLOW_TEST_BLOCKED_IMPORTS`` (comma
separated): ``import redis`` then raises ``ModuleNotFoundError`` through
Python's own import system, as it does where ``redis`` is not installed.
"""

from __future__ import annotations

import os
import sys

BLOCKED = frozenset(
    name
    for name in os.environ.get("OPSFLOW_TEST_BLOCKED_IMPORTS", "").split(",")
    if name
)


class _Blocked:
    """A meta-path finder that knows the blocked packages, as missing."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name.split(".", 1)[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


if BLOCKED:
    sys.meta_path.insert(0, _Blocked())
