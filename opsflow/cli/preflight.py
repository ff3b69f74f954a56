"""Everything checked before a run starts, so bad input never runs a step.

The flow plugin is loaded and its factory called with the store keys it
accepts; the engine is built, compiled and validated (a missing input is
named here, and so is an optional package the executor needs or its broker
that does not answer); executor and listener names are checked against
their plugin namespaces, with errors that say which file or flag they came
from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from oslo_config import cfg

from opsflow.cli.exits import UsageError
from opsflow.exceptions import MissingDependencies
from opsflow.redaction import NO_SECRETS, Redactor

__all__ = ["attach_listeners", "check_store", "checked_engine", "load_flow"]


def load_flow(
    name: str, store: Mapping[str, Any], redactor: Redactor = NO_SECRETS
) -> Any:
    """The flow built by the ``opsflow.flows`` plugin ``name``.

    ``redactor`` scrubs the run's secrets from the factory's error messages.
    """
    from opsflow.plugins import flows

    factory = flows.load_factory(name)
    try:
        return flows.build_flow(factory, name, store, redactor)
    except MissingDependencies as exc:
        raise _missing_inputs(name, exc) from exc


def checked_engine(
    name: str,
    flow: Any,
    store: dict[str, Any],
    conf: cfg.ConfigOpts,
    executor_flag: str | None = None,
    secret_keys: frozenset[str] = frozenset(),
) -> Any:
    """A compiled, validated engine for ``flow`` with the whole store injected.

    Secret keys are injected as transient values, never saved with the run.
    """
    from opsflow.cli.runner import load_engine
    from opsflow.plugins import executors

    executor = executors.resolve_executor(
        conf.engine.executor, **_where(conf, executor_flag, "executor")
    )
    engine = load_engine(
        flow,
        store,
        engine=conf.engine.engine,
        executor=executor,
        max_workers=conf.engine.max_workers,
        task_timeout=conf.engine.task_timeout,
        secret_keys=secret_keys,
    )
    engine.compile()
    engine.prepare()
    try:
        engine.validate()
    except MissingDependencies as exc:
        raise _missing_inputs(name, exc) from exc
    return engine


def check_store(conf: cfg.ConfigOpts) -> None:
    """The persistence backend's driver package is installed (for
    ``--dry-run``, which opens no store); raises ``MissingPackage``."""
    from opsflow.persistence import backends

    backends.check_available({"connection": conf.persistence.connection})


def attach_listeners(
    conf: cfg.ConfigOpts, flag_names: Sequence[str], engine: Any
) -> list[Any]:
    """Listeners from ``[engine] listeners`` then from ``--listener``."""
    from opsflow.plugins import listeners

    return [
        *listeners.create_listeners(
            conf.engine.listeners, engine, **_where(conf, None, "listeners")
        ),
        *listeners.create_listeners(flag_names, engine),
    ]


def _missing_inputs(name: str, exc: MissingDependencies) -> UsageError:
    missing = ", ".join(getattr(exc, "missing_requirements", [])) or str(exc)
    return UsageError(
        f"flow {name} needs inputs that were not given: {missing} "
        "(give them with --store KEY=VALUE or --store-file)"
    )


def _where(conf: cfg.ConfigOpts, flag_value: str | None, option: str) -> dict[str, Any]:
    """Where an ``[engine]`` option's value came from, for error messages."""
    from opsflow.conf.loader import where_set

    if flag_value is not None:
        return {"source": f"--{option.replace('_', '-')}", "option": None}
    path, _ = where_set(conf, "engine", option)
    return {"source": path, "option": f"[engine] {option}"}
