"""Every opsflow configuration option, in one place.

``oslo-config-generator`` reads :func:`list_opts` through the
``oslo.config.opts`` entry point ``opsflow``; :func:`register_opts` puts the
same options on a :class:`~oslo_config.cfg.ConfigOpts` at run time. Logging
options (``debug``, ``log_file``, ...) come from oslo.log under its own
namespace and are registered by the loader.
"""

from __future__ import annotations

import os

from oslo_config import cfg

__all__ = ["list_opts", "register_opts"]

default_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "state_path",
        default=os.path.join(os.path.expanduser("~"), ".local", "state", "opsflow"),
        sample_default="~/.local/state/opsflow",
        help="Directory where opsflow keeps its state: the run database and "
        "the tracebacks of failed runs. Created on first use with mode 0700.",
    ),
    cfg.ListOpt(
        "flow_dirs",
        default=["~/.opsflow/flows.d", "/etc/opsflow/flows.d"],
        help="Directories of YAML flow files (docs/flows-yaml.md): every "
        "*.yaml file directly in one of them defines one flow, run by its name "
        "like an entry-point flow. Directories that do not exist are skipped; "
        "'~' is the user's home.",
    ),
]

engine_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "engine",
        default="serial",
        choices=[
            ("serial", "Run one task at a time, in a reproducible order."),
            ("parallel", "Run independent tasks at the same time."),
        ],
        help="Engine that runs the flow.",
    ),
    cfg.StrOpt(
        "executor",
        help="Executor driver that runs the tasks: a name from the "
        "opsflow.executors entry-point namespace (for example synchronous, "
        "thread, process, greenthread). Unset: the engine's own, synchronous "
        "for the serial engine and thread for the parallel one.",
    ),
    cfg.IntOpt(
        "max_workers",
        min=1,
        help="Most tasks run at once by the executor; unset lets the driver choose.",
    ),
    cfg.FloatOpt(
        "task_timeout",
        min=0,
        help="Seconds a task may run before it fails with a Timeout and the "
        "flow reverts; unset or 0 means no limit. A task's own timeout wins.",
    ),
    cfg.ListOpt(
        "listeners",
        default=[],
        help="Listeners (names from the opsflow.listeners entry-point "
        "namespace) that opsflow-run attaches to every run.",
    ),
]

persistence_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "connection",
        default="sqlite:///$state_path/opsflow.sqlite",
        secret=True,
        help="Where runs are persisted, as a URL whose scheme names a "
        "backend from the opsflow.persistence namespace (memory, sqlite, "
        "postgresql, mysql, ...).",
    ),
]

_GROUPS: list[tuple[str | None, list[cfg.Opt]]] = [
    (None, default_opts),
    ("engine", engine_opts),
    ("persistence", persistence_opts),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Every option by group, for ``oslo-config-generator`` and the docs."""
    return [(group or "DEFAULT", list(opts)) for group, opts in _GROUPS]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register every opsflow option on ``conf``."""
    for group, opts in _GROUPS:
        conf.register_opts(opts, group=group)
