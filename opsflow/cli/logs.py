"""Logging for ``opsflow-run``: oslo.log on stderr, secrets masked.

stdout is kept for the summary and the JSON document. oslo.log falls back
to stdout when no log destination is configured; opsflow-run turns that
fallback into stderr. A configured ``log_file``, ``use_journal`` or
``log_config_append`` is left alone, except that a log file opsflow-run
creates (at start, or when oslo.log rotates it) is 0600 in 0700
directories: log lines name runs, steps and their errors.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from typing import Any

from oslo_config import cfg

from opsflow.cli.masking import Masker

__all__ = ["log_file_path", "setup_logging"]


def setup_logging(conf: cfg.ConfigOpts, debug: bool, masker: Masker) -> None:
    """oslo.log set up from ``conf``; every handler masks the run's secrets.

    :raises ConfigError: the log file cannot be created (exit 78).
    """
    from oslo_log import log

    if not (conf.log_file or conf.use_journal or conf.log_config_append):
        conf.set_override("use_stderr", True)
    if debug:
        conf.set_override("debug", True)
    path = log_file_path(conf)
    if path:
        _create_private(conf, path)
    log.setup(conf, "opsflow")
    # Third-party chatter (stevedore's plugin scan, ...) only when debugging.
    if not conf.debug:
        logging.getLogger("stevedore").setLevel(logging.WARNING)
    handlers = logging.getLogger().handlers
    if path:
        for handler in handlers:
            if isinstance(handler, logging.FileHandler):
                # A file that rotation (or logrotate) makes anew is 0600 too.
                handler._builtin_open = functools.partial(  # type: ignore[attr-defined]
                    open, opener=_private_opener
                )
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


def _create_private(conf: cfg.ConfigOpts, path: str) -> None:
    from opsflow.conf.loader import ConfigError, where_set
    from opsflow.privatefiles import open_private

    try:
        os.close(open_private(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND))
    except OSError as exc:
        option = "log_file" if conf.log_file else "log_dir"
        source, _ = where_set(conf, None, option)
        raise ConfigError(
            source,
            f"= {path!r}: the log file cannot be created: {exc.strerror or exc}",
            option=f"[DEFAULT] {option}",
        ) from exc


def _private_opener(path: str, flags: int) -> Any:
    from opsflow.privatefiles import FILE_MODE

    return os.open(path, flags, FILE_MODE)
