"""Logging for ``opsflow-run``: oslo.log on stderr, secrets masked.

stdout is kept for the summary and the JSON document. oslo.log falls back
to stdout when no log destination is configured; opsflow-run turns that
fallback into stderr. A configured ``log_file``, ``use_journal`` or
``log_config_append`` is left alone, except that a log file opsflow-run
creates (at start, or when oslo.log rotates it) is 0600 in 0700
directories: log lines name runs, steps and their errors.

While a run goes, every log line carries its run id and flow name through
oslo.log's request context: in the ``[...]`` slot of the text format and
under ``context`` with ``use_json``, whichever thread logs it (the engine
and its workers run in threads of their own). The libraries opsflow runs on
log at WARNING and above unless ``debug`` is on.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from oslo_config import cfg
from oslo_context import context

from opsflow.cli.masking import Masker

__all__ = ["RunContext", "log_file_path", "run_context", "setup_logging"]

#: Libraries whose INFO lines tell an operator nothing (alembic announces its
#: plugins, stevedore its scans); oslo.log's own list quiets more.
QUIET_LIBRARIES = (
    "alembic=WARN",
    "stevedore=WARN",
    "celery=WARN",
    "kombu=WARN",
    "procrastinate=WARN",
    "psycopg=WARN",
    "asyncio=WARN",
    "urllib3=WARN",
)

#: oslo.log's context format with the run id and the flow in the ``[...]``
#: slot, where OpenStack services put the request id.
CONTEXT_FORMAT = (
    "%(asctime)s.%(msecs)03d %(process)d %(levelname)s %(name)s "
    "[%(request_id)s %(flow)s] %(instance)s%(message)s"
)


class RunContext(context.RequestContext):  # type: ignore[misc]
    """oslo.log's request context for one run: its id is the request id."""

    def __init__(self, run_id: str, flow: str) -> None:
        super().__init__(request_id=run_id, overwrite=False)
        self.run_id = run_id
        self.flow = flow

    def get_logging_values(self) -> dict[str, Any]:
        """oslo.context's values, with ``run_id`` and ``flow``."""
        values: dict[str, Any] = super().get_logging_values()
        values.update(run_id=self.run_id, flow=self.flow)
        return values


class _RunContextFilter(logging.Filter):
    """Gives each record the current run's context (oslo.context keeps its
    own per thread, which the engine's threads never see)."""

    current: RunContext | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self.current is not None and "context" not in record.__dict__:
            record.context = self.current
        return True


_CONTEXT_FILTER = _RunContextFilter()


@contextlib.contextmanager
def run_context(run_id: str, flow: str) -> Iterator[RunContext]:
    """While in it, every log line names run ``run_id`` of ``flow``."""
    previous = _CONTEXT_FILTER.current
    _CONTEXT_FILTER.current = RunContext(run_id, flow)
    try:
        yield _CONTEXT_FILTER.current
    finally:
        _CONTEXT_FILTER.current = previous


def setup_logging(
    conf: cfg.ConfigOpts,
    debug: bool,
    masker: Masker,
    flags: Mapping[str, str] | None = None,
) -> None:
    """oslo.log set up from ``conf``; every handler masks the run's secrets.

    ``flags`` maps the options given on the command line (``log_file``,
    ``log_dir``) to their flag, which an error about them names.

    :raises ConfigError: the log file cannot be created (exit 78).
    :raises Unavailable: ``use_journal`` without systemd's Python bindings.
    """
    from oslo_log import log

    from opsflow.cli.exits import Unavailable

    if not (log_file_path(conf) or conf.use_journal or conf.log_config_append):
        conf.set_override("use_stderr", True)
    if debug:
        conf.set_override("debug", True)
    if not conf.debug:
        # A default only: default_log_levels set in a file wins.
        levels = log.get_default_log_levels() + list(QUIET_LIBRARIES)
        conf.set_default("default_log_levels", levels)
    conf.set_default("logging_context_format_string", CONTEXT_FORMAT)
    path = log_file_path(conf)
    if path:
        _create_private(conf, path, flags or {})
    try:
        log.setup(conf, "opsflow")
    except RuntimeError as exc:
        if not conf.use_journal:
            raise
        raise Unavailable(
            f"use_journal ({exc}): logging to journald needs systemd's Python "
            "bindings (python3-systemd, or pip install systemd-python)"
        ) from exc
    handlers = logging.getLogger().handlers
    if path:
        for handler in handlers:
            if isinstance(handler, logging.FileHandler):
                # A file that rotation (or logrotate) makes anew is 0600 too.
                handler._builtin_open = functools.partial(  # type: ignore[attr-defined]
                    open, opener=_private_opener
                )
    for handler in handlers:
        handler.addFilter(_CONTEXT_FILTER)
    masker.install(handlers)


def log_file_path(conf: cfg.ConfigOpts) -> str | None:
    """The file oslo.log writes to (``log_dir``/``log_file``), if any."""
    if conf.log_file and conf.log_dir:
        return os.path.join(conf.log_dir, conf.log_file)
    if conf.log_file:
        return str(conf.log_file)
    if conf.log_dir:
        return os.path.join(conf.log_dir, os.path.basename(sys.argv[0]) + ".log")
    return None


def _create_private(conf: cfg.ConfigOpts, path: str, flags: Mapping[str, str]) -> None:
    from opsflow.conf.loader import ConfigError, where_set
    from opsflow.privatefiles import open_private

    try:
        os.close(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND))
    except OSError as exc:
        reason = _why_not_created(path, exc)
        given = [flags[name] for name in ("log_file", "log_dir") if name in flags]
        if given:
            raise ConfigError(
                " and ".join(given),
                f"{path!r}: the log file cannot be created: {reason}",
            ) from exc
        option = "log_file" if conf.log_file else "log_dir"
        source, _ = where_set(conf, None, option)
        raise ConfigError(
            source,
            f"= {path!r}: the log file cannot be created: {reason}",
            option=f"[DEFAULT] {option}",
        ) from exc


def _why_not_created(path: str, error: OSError) -> str:
    """What stops ``path`` from being created: a parent that is a file says
    so (creating its directories only reports that the name exists)."""
    parent = os.path.dirname(os.path.abspath(path))
    while parent and not os.path.exists(parent):
        parent = os.path.dirname(parent)
    if parent and not os.path.isdir(parent):
        return f"{parent} is not a directory"
    return error.strerror or str(error)


def _private_opener(path: str, flags: int) -> Any:
    from opsflow.privatefiles import FILE_MODE

    return os.open(path, flags, FILE_MODE)
