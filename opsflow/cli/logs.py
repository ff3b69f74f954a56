"""Logging for ``opsflow-run``: oslo.log on stderr, secrets masked.

stdout is kept for the summary and the JSON document, so oslo.log's
default of logging to stdout is turned into stderr unless ``opsflow.conf``
says otherwise (``log_file``, ``use_journal``, ...).
"""

from __future__ import annotations

import logging

from oslo_config import cfg

from opsflow.cli.masking import Masker

__all__ = ["setup_logging"]


def setup_logging(conf: cfg.ConfigOpts, debug: bool, masker: Masker) -> None:
    from oslo_log import log

    conf.set_default("use_stderr", True)
    if debug:
        conf.set_override("debug", True)
    log.setup(conf, "opsflow")
    # Third-party chatter (stevedore's plugin scan, ...) only when debugging.
    if not conf.debug:
        logging.getLogger("stevedore").setLevel(logging.WARNING)
    masker.install(logging.getLogger().handlers)
