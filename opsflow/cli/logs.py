"""Logging for ``opsflow-run``: oslo.log on stderr, secrets masked.

stdout is kept for the summary and the JSON document. oslo.log falls back
to stdout when no log destination is configured; opsflow-run turns that
fallback into stderr. A configured ``log_file``, ``use_journal`` or
``log_config_append`` is left alone.
"""

from __future__ import annotations

import logging

from oslo_config import cfg

from opsflow.cli.masking import Masker

__all__ = ["setup_logging"]


def setup_logging(conf: cfg.ConfigOpts, debug: bool, masker: Masker) -> None:
    from oslo_log import log

    if not (conf.log_file or conf.use_journal or conf.log_config_append):
        conf.set_override("use_stderr", True)
    if debug:
        conf.set_override("debug", True)
    log.setup(conf, "opsflow")
    # Third-party chatter (stevedore's plugin scan, ...) only when debugging.
    if not conf.debug:
        logging.getLogger("stevedore").setLevel(logging.WARNING)
    masker.install(logging.getLogger().handlers)
