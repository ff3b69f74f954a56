"""Engines: run flows.

From ``engine.run()`` to ``task.execute()``:

1. ``engine.run()`` drains ``engine.run_iter()`` (``engines/engine.py``);
2. ``run_iter`` compiles, prepares and validates, then drives the builder's
   machine (``engines/builder.py``): RESUMING, SCHEDULING, WAITING,
   ANALYZING ... GAME_OVER;
3. the SCHEDULING reaction asks the scheduler (``engines/scheduler.py``) to
   start what the selector (``engines/selector.py``) found ready;
4. the scheduler calls the atom's action (``engines/actions.py``), which
   records RUNNING and fetches the arguments;
5. the action submits ``run_task`` to the executor (``engines/executor.py``);
6. ``run_task`` calls ``task.execute(**arguments)``.

The ANALYZING reaction hands each finished future to the completer
(``engines/completer.py``), which records the outcome and, on failure,
decides what to revert or retry.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # futurist imports eventlet whenever it is installed (the greenthread
    # driver's extra), and eventlet then warns about itself at every start.
    warnings.filterwarnings("ignore", r"\s*Eventlet is deprecated")
    import futurist  # noqa: F401

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opsflow import exceptions
from opsflow.engines.engine import (
    ActionEngine,
    ParallelActionEngine,
    SerialActionEngine,
)
from opsflow.persistence import models

__all__ = ["ActionEngine", "load", "load_from_detail", "load_from_factory", "run"]

_ENGINES: dict[str, type[ActionEngine]] = {
    "serial": SerialActionEngine,
    "default": SerialActionEngine,
    "parallel": ParallelActionEngine,
}

#: Flow detail meta key recording the factory a flow was made by.
FACTORY_META_KEY = "factory"


def _engine_class(engine: str) -> type[ActionEngine]:
    try:
        return _ENGINES[engine]
    except KeyError:
        raise exceptions.NotFound(
            f"Unknown engine {engine!r}; expected one of {sorted(_ENGINES)}"
        ) from None


def load(
    flow: Any,
    store: Mapping[str, Any] | None = None,
    flow_detail: models.FlowDetail | None = None,
    book: models.LogBook | None = None,
    backend: Any = None,
    namespace: str | None = None,
    engine: str = "default",
    executor: Any = None,
    max_workers: int | None = None,
    **options: Any,
) -> ActionEngine:
    """An engine ready to run ``flow`` (nothing runs yet).

    ``flow_detail`` resumes a previous run; otherwise a new one is made
    (and added to ``book`` when given).
    """
    engine_cls = _engine_class(options.pop("engine_conf", None) or engine)
    if flow_detail is None:
        flow_detail = models.FlowDetail(name=flow.name)
        if book is not None:
            book.add(flow_detail)
    if backend is not None:
        _save_to(backend, flow_detail, book)
    if isinstance(executor, str):
        from opsflow import executors

        executors.driver(executor)  # an unknown name is refused here, not mid-run
    options.update(executor=executor, max_workers=max_workers)
    loaded = engine_cls(flow, flow_detail, backend=backend, options=options)
    if store:
        loaded.storage.inject(store)
    return loaded


def _save_to(
    backend: Any, flow_detail: models.FlowDetail, book: models.LogBook | None
) -> None:
    """Make sure the backend holds the run before the engine writes through."""
    if book is None:
        book = models.LogBook(name=flow_detail.name)
    if book.find(flow_detail.uuid) is None:
        book.add(flow_detail)
    backend.get_connection().save_logbook(book)


def run(
    flow: Any, store: Mapping[str, Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Load and run ``flow``; returns ``storage.fetch_all()``."""
    engine = load(flow, store=store, **kwargs)
    engine.run()
    return engine.storage.fetch_all()


def _factory_name(factory: Callable[..., Any]) -> str:
    return f"{factory.__module__}.{factory.__qualname__}"


def load_from_factory(
    flow_factory: Callable[..., Any],
    factory_args: Iterable[Any] | None = None,
    factory_kwargs: Mapping[str, Any] | None = None,
    store: Mapping[str, Any] | None = None,
    book: models.LogBook | None = None,
    backend: Any = None,
    **kwargs: Any,
) -> ActionEngine:
    """Build the flow with ``flow_factory`` and load it, recording the factory."""
    args = list(factory_args or ())
    factory_kwargs = dict(factory_kwargs or {})
    flow = flow_factory(*args, **factory_kwargs)
    flow_detail = models.FlowDetail(name=flow.name)
    flow_detail.meta[FACTORY_META_KEY] = {
        "name": _factory_name(flow_factory),
        "args": args,
        "kwargs": factory_kwargs,
    }
    if book is not None:
        book.add(flow_detail)
    return load(flow, store=store, flow_detail=flow_detail, backend=backend, **kwargs)


def load_from_detail(
    flow_detail: models.FlowDetail,
    store: Mapping[str, Any] | None = None,
    backend: Any = None,
    **kwargs: Any,
) -> ActionEngine:
    """Rebuild a flow from the factory its detail records, and load that run."""
    import importlib

    factory = flow_detail.meta.get(FACTORY_META_KEY)
    if not factory:
        raise ValueError(f"Flow detail {flow_detail.uuid} has no factory information")
    module_name, _, attribute = factory["name"].rpartition(".")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ImportError(f"Could not import factory {factory['name']!r}") from exc
    flow = target(*factory.get("args", ()), **factory.get("kwargs", {}))
    return load(flow, store=store, flow_detail=flow_detail, backend=backend, **kwargs)
