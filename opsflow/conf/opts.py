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
    cfg.StrOpt(
        "sqlite_synchronous",
        default="normal",
        choices=[
            (
                "normal",
                "A commit survives the opsflow process being killed; a power "
                "cut or an OS crash may lose the last commits (never the "
                "file).",
            ),
            (
                "full",
                "Every commit is also synced to the disk: it survives a power "
                "cut or an OS crash too, for a sync per commit.",
            ),
        ],
        help="How durable each commit of a SQLite store is (SQLite's "
        "synchronous setting, in WAL mode). A ?synchronous= in the connection "
        "URL takes precedence.",
    ),
]

celery_executor_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "broker_url",
        default="amqp://guest:guest@127.0.0.1:5672//",
        secret=True,
        help="[celery executor, engine and worker] RabbitMQ URL that carries "
        "one message per remote execute or revert.",
    ),
    cfg.StrOpt(
        "result_backend",
        default="redis://127.0.0.1:6379/0",
        secret=True,
        help="Redis URL where workers store results and progress; the engine "
        "follows them by pub/sub.",
    ),
    cfg.StrOpt(
        "queue_prefix",
        default="opsflow.atoms",
        help="Prefix of the queue names: <prefix>.<queue> for tasks, "
        "<prefix>.<queue>.once for tasks declaring idempotent = False, "
        "<prefix>.dead for dead letters.",
    ),
    cfg.IntOpt(
        "redelivery_limit",
        default=1,
        min=0,
        help="How many times RabbitMQ redelivers a task whose worker died "
        "(quorum queue x-delivery-limit) before the engine gets WorkerLost.",
    ),
    cfg.FloatOpt(
        "start_timeout",
        default=300,
        min=0,
        help="Seconds from sending a task until a worker starts it; past "
        "that the task is revoked and fails with NoWorkerAvailable. 0: no limit.",
    ),
    cfg.FloatOpt(
        "atom_timeout",
        default=0,
        min=0,
        help="Seconds a started remote task may run before it is terminated "
        "and fails with AtomTimeout; 0: no limit. A task's own timeout wins.",
    ),
    cfg.FloatOpt(
        "result_sweep_interval",
        default=5,
        min=0.1,
        help="Seconds between re-reads of the state of tasks the engine has "
        "heard nothing about (a missed pub/sub message).",
    ),
    cfg.FloatOpt(
        "progress_min_interval",
        default=1.0,
        min=0,
        help="Fewest seconds between two progress updates a worker sends for "
        "one task; the last value is always sent.",
    ),
    cfg.IntOpt(
        "result_expires",
        default=604800,
        min=60,
        help="Seconds results and progress stay in the result backend.",
    ),
]

celery_worker_opts: list[cfg.Opt] = [
    cfg.ListOpt(
        "queues",
        default=["default"],
        help="Queues (names without the prefix) that opsflow-worker consumes.",
    ),
    cfg.IntOpt(
        "concurrency",
        default=8,
        min=1,
        help="Tasks one opsflow-worker runs at once.",
    ),
    cfg.StrOpt(
        "pool",
        default="prefork",
        choices=[
            ("prefork", "Child processes; enforces time limits."),
            ("threads", "Threads; no time limits (tests only)."),
            ("solo", "In the worker process itself, one at a time."),
        ],
        help="Celery pool of opsflow-worker.",
    ),
    cfg.StrOpt(
        "plugin_namespace",
        default="opsflow.tasks",
        help="Entry-point namespace the worker loads task plugins from.",
    ),
    cfg.ListOpt(
        "allowed_plugins",
        default=["*"],
        help="Glob patterns of the task plugin names the worker runs; any "
        "other name fails with IncompatiblePlugin.",
    ),
    cfg.FloatOpt(
        "soft_shutdown_timeout",
        default=60,
        min=0,
        help="Seconds a stopping worker lets running tasks finish.",
    ),
]

jobboard_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "driver",
        default="local",
        help="Jobboard that runs submitted flows (opsflow-run --submit): a "
        "name from the opsflow.jobboards entry-point namespace. local runs the "
        "flow at once in the submitting process; procrastinate queues it in "
        "PostgreSQL for opsflow-conductor processes (docs/scale-out.md).",
    ),
]

procrastinate_jobboard_opts: list[cfg.Opt] = [
    cfg.StrOpt(
        "connection",
        secret=True,
        help="PostgreSQL URL of the job queue (procrastinate tables). Unset: "
        "[persistence] connection, which must then be PostgreSQL: the lease "
        "check and the state writes share one database.",
    ),
    cfg.StrOpt("queue", default="opsflow.flows", help="Queue of flow runs."),
    cfg.IntOpt(
        "concurrency",
        default=8,
        min=1,
        help="Flows one conductor process runs at once (each in a thread).",
    ),
    cfg.FloatOpt(
        "heartbeat_interval",
        default=10.0,
        min=0.1,
        help="Seconds between a conductor's heartbeats (its worker row and "
        "the leases of its runs).",
    ),
    cfg.FloatOpt(
        "stalled_after",
        default=60.0,
        min=0.5,
        help="Seconds without a heartbeat after which a conductor counts as "
        "dead and its runs are handed to another conductor.",
    ),
    cfg.FloatOpt(
        "reaper_interval",
        default=15.0,
        min=0.1,
        help="Seconds between two passes of the reaper (one conductor at a "
        "time) that re-queues the runs of dead conductors and runs that were "
        "stored but never queued.",
    ),
    cfg.IntOpt(
        "max_attempts",
        default=5,
        min=1,
        help="Times a run is started before it is given up: the run then "
        "ends FAILURE with the reason, for a person to look at.",
    ),
    cfg.BoolOpt(
        "listen_notify",
        default=True,
        help="Wake conductors through PostgreSQL LISTEN/NOTIFY; false: poll "
        "(behind PgBouncer in transaction mode).",
    ),
    cfg.FloatOpt(
        "poll_interval",
        default=5.0,
        min=0.1,
        help="Seconds between two looks for queued runs (a fallback when "
        "listen_notify is on).",
    ),
]

web_opts: list[cfg.Opt] = [
    cfg.HostAddressOpt(
        "host",
        default="127.0.0.1",
        help="Address opsflow-web listens on. A loopback address by default; "
        "any other address needs auth_token_file, or opsflow-web refuses to "
        "start (exit 78).",
    ),
    cfg.PortOpt("port", default=8787, help="TCP port opsflow-web listens on."),
    cfg.StrOpt(
        "auth_token_file",
        help="File holding the token a browser or API client must give "
        "(Authorization: Bearer TOKEN, or the login form that sets a cookie). "
        "Unset: no token, allowed on a loopback address only (and only "
        "loopback host names are answered). It must be mode 0600: one its "
        "group or others may open is refused (exit 78); '~' is the user's home.",
    ),
]

_GROUPS: list[tuple[str | None, list[cfg.Opt]]] = [
    (None, default_opts),
    ("engine", engine_opts),
    ("persistence", persistence_opts),
    ("jobboard", jobboard_opts),
    ("procrastinate_jobboard", procrastinate_jobboard_opts),
    ("celery_executor", celery_executor_opts),
    ("celery_worker", celery_worker_opts),
    ("web", web_opts),
]


def list_opts() -> list[tuple[str, list[cfg.Opt]]]:
    """Every option by group, for ``oslo-config-generator`` and the docs."""
    return [(group or "DEFAULT", list(opts)) for group, opts in _GROUPS]


def register_opts(conf: cfg.ConfigOpts) -> None:
    """Register every opsflow option on ``conf``."""
    for group, opts in _GROUPS:
        conf.register_opts(opts, group=group)
