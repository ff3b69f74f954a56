"""Load flows into engines: ``load``, ``run`` and loading from factories.

``engines.load(flow)`` gives an engine ready to run (nothing runs yet);
``engines.run(flow)`` also runs it and returns every named value.
``load_from_factory`` builds the flow with a factory it records in the run's
metadata, so that ``load_from_detail`` can build it again to resume the run
in another process.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeAlias

from opsflow import exceptions
from opsflow.engines.engine import (
    ActionEngine,
    ParallelActionEngine,
    SerialActionEngine,
)
from opsflow.executors.base import TaskExecutor
from opsflow.flow import Flow
from opsflow.persistence import backends as persistence_backends
from opsflow.persistence import base, models
from opsflow.utils import persistence_utils

__all__ = [
    "ENGINE_DEFAULT",
    "engine_class",
    "flow_from_detail",
    "load",
    "load_from_detail",
    "load_from_factory",
    "run",
    "save_factory_details",
]

#: The engine ``load`` gives when none is named.
ENGINE_DEFAULT = "default"

_ENGINES: dict[str, type[ActionEngine]] = {
    "serial": SerialActionEngine,
    "default": SerialActionEngine,
    "parallel": ParallelActionEngine,
}

#: Flow detail meta key recording the factory a flow was made by.
FACTORY_META_KEY = "factory"

#: A persistence backend, or the configuration to fetch one with.
BackendOrConf = base.Backend | Mapping[str, Any] | None
#: An executor driver's name, a task executor, or any PEP 3148 executor.
ExecutorChoice: TypeAlias = str | TaskExecutor | concurrent.futures.Executor | None
#: Builds a flow (a callable, or its dotted ``module.name``).
FlowFactory: TypeAlias = Callable[..., Flow] | str


def engine_class(engine: str) -> type[ActionEngine]:
    """The engine class called ``engine`` (``NotFound`` for an unknown name)."""
    try:
        return _ENGINES[engine]
    except KeyError:
        raise exceptions.NotFound(
            f"Could not find engine '{engine}'; expected one of {sorted(_ENGINES)}"
        ) from None


def _backend(backend: BackendOrConf) -> base.Backend | None:
    if isinstance(backend, Mapping):
        return persistence_backends.fetch(backend)
    return backend


def load(
    flow: Flow,
    store: Mapping[str, Any] | None = None,
    flow_detail: models.FlowDetail | None = None,
    book: models.LogBook | None = None,
    backend: BackendOrConf = None,
    namespace: str | None = None,
    engine: str = ENGINE_DEFAULT,
    executor: ExecutorChoice = None,
    max_workers: int | None = None,
    **options: Any,
) -> ActionEngine:
    """An engine ready to run ``flow`` (nothing runs yet).

    ``flow_detail`` resumes a previous run; otherwise a new one is made, in
    ``book`` when given, and saved to ``backend`` (a backend, or the
    configuration mapping to fetch one). ``executor`` is a driver name or
    an executor instance; other keyword arguments are engine options
    (``defer_reverts``, ``never_resolve``, ``task_timeout``...).
    """
    engine_cls = engine_class(options.pop("engine_conf", None) or engine)
    loaded_backend = _backend(backend)
    if flow_detail is None:
        flow_detail = persistence_utils.create_flow_detail(
            flow, book=book, backend=loaded_backend
        )
    elif loaded_backend is not None:
        _save_to(loaded_backend, flow_detail, book)
    if isinstance(executor, str):
        from opsflow import executors

        executors.driver(executor)  # an unknown name is refused here, not mid-run
    if executor is not None:
        options["executor"] = executor
    if max_workers is not None:
        options["max_workers"] = max_workers
    loaded = engine_cls(flow, flow_detail, backend=loaded_backend, options=options)
    if store:
        loaded.storage.inject(store)
    return loaded


def _save_to(
    backend: base.Backend, flow_detail: models.FlowDetail, book: models.LogBook | None
) -> None:
    """Make sure the backend holds the run before the engine writes through."""
    connection = backend.get_connection()
    with contextlib.suppress(exceptions.NotFound):
        connection.get_flow_details(flow_detail.uuid, lazy=True)
        return
    if book is None:
        book = models.LogBook(name=flow_detail.name)
    if book.find(flow_detail.uuid) is None:
        book.add(flow_detail)
    connection.save_logbook(book)


def run(
    flow: Flow, store: Mapping[str, Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Load and run ``flow``; returns ``storage.fetch_all()``."""
    engine = load(flow, store=store, **kwargs)
    engine.run()
    return engine.storage.fetch_all()


def _import_factory(name: str) -> Callable[..., Any]:
    from oslo_utils import importutils

    try:
        factory: Callable[..., Any] = importutils.import_class(name)
    except (ImportError, ValueError) as exc:
        raise ImportError(f"Could not import factory {name!r}: {exc}") from exc
    return factory


def _factory_and_name(
    flow_factory: FlowFactory,
) -> tuple[str, Callable[..., Any]]:
    """``(importable name, factory)``; ``ValueError`` if it cannot be re-imported."""
    if isinstance(flow_factory, str):
        return flow_factory, _import_factory(flow_factory)
    name = f"{flow_factory.__module__}.{flow_factory.__qualname__}"
    try:
        found = _import_factory(name)
    except ImportError:
        found = None
    if found is not flow_factory:
        raise ValueError(
            f"Flow factory {flow_factory!r} is not reimportable by name {name}"
        )
    return name, flow_factory


def save_factory_details(
    flow_detail: models.FlowDetail,
    flow_factory: FlowFactory,
    factory_args: Iterable[Any] | None,
    factory_kwargs: Mapping[str, Any] | None,
    backend: BackendOrConf = None,
) -> None:
    """Record in ``flow_detail`` how to build its flow again (and save it)."""
    name, _factory = _factory_and_name(flow_factory)
    flow_detail.meta[FACTORY_META_KEY] = {
        "name": name,
        "args": list(factory_args or ()),
        "kwargs": dict(factory_kwargs or {}),
    }
    loaded = _backend(backend)
    if loaded is not None:
        loaded.get_connection().update_flow_details(flow_detail)


def load_from_factory(
    flow_factory: FlowFactory,
    factory_args: Iterable[Any] | None = None,
    factory_kwargs: Mapping[str, Any] | None = None,
    store: Mapping[str, Any] | None = None,
    book: models.LogBook | None = None,
    backend: BackendOrConf = None,
    **kwargs: Any,
) -> ActionEngine:
    """Build the flow with ``flow_factory`` (or its dotted name) and load it.

    The factory's name and arguments are recorded in the run's metadata
    for :func:`load_from_detail`.
    """
    _name, factory = _factory_and_name(flow_factory)
    args = list(factory_args or ())
    keywords = dict(factory_kwargs or {})
    flow = factory(*args, **keywords)
    loaded_backend = _backend(backend)
    flow_detail = persistence_utils.create_flow_detail(
        flow, book=book, backend=loaded_backend
    )
    save_factory_details(flow_detail, flow_factory, args, keywords, loaded_backend)
    return load(
        flow,
        store=store,
        flow_detail=flow_detail,
        book=book,
        backend=loaded_backend,
        **kwargs,
    )


def flow_from_detail(flow_detail: models.FlowDetail) -> Flow:
    """Build again the flow of a run made by :func:`load_from_factory`."""
    factory = (flow_detail.meta or {}).get(FACTORY_META_KEY)
    if not isinstance(factory, Mapping) or "name" not in factory:
        raise ValueError(
            f"Cannot reconstruct flow {flow_detail.name} {flow_detail.uuid}: "
            "no factory information saved."
        )
    try:
        build = _import_factory(factory["name"])
    except ImportError as exc:
        raise ImportError(
            f"Could not import factory for flow {flow_detail.name} {flow_detail.uuid}"
        ) from exc
    flow: Flow = build(*factory.get("args", ()), **factory.get("kwargs", {}))
    return flow


def load_from_detail(
    flow_detail: models.FlowDetail,
    store: Mapping[str, Any] | None = None,
    backend: BackendOrConf = None,
    **kwargs: Any,
) -> ActionEngine:
    """Rebuild a flow from the factory its detail records, and load that run."""
    flow = flow_from_detail(flow_detail)
    return load(flow, store=store, flow_detail=flow_detail, backend=backend, **kwargs)
