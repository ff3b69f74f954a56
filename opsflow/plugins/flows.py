"""``opsflow.flows``: flow factories that ``opsflow-run`` runs by name.

A factory is called with keyword arguments only: the names of the run's
store that its signature accepts (all of them when it takes ``**kwargs``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from opsflow.exceptions import MissingDependencies, PluginError
from opsflow.plugins.loader import Namespace

__all__ = [
    "NAMESPACE",
    "FlowFactoryFailed",
    "build_flow",
    "factory_arguments",
    "load_factory",
    "namespace",
]

NAMESPACE = "opsflow.flows"

FlowFactory = Callable[..., Any]


class FlowFactoryFailed(PluginError):
    """A flow factory raised, or returned something that is not a flow."""


def _is_factory(obj: Any) -> str | None:
    return None if callable(obj) else f"{obj!r} is not callable"


namespace: Namespace[FlowFactory] = Namespace(NAMESPACE, check=_is_factory)


def load_factory(name: str) -> FlowFactory:
    """The flow factory registered as ``name``."""
    return namespace.load(name)


def factory_arguments(
    factory: FlowFactory, name: str, store: Mapping[str, Any]
) -> dict[str, Any]:
    """The part of ``store`` that ``factory`` accepts.

    :raises MissingDependencies: a parameter without a default is not in
        the store; it names every such parameter.
    """
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable: give it all
        return dict(store)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(store)
    accepted = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    missing = [
        p.name
        for p in params
        if p.name in accepted and p.default is p.empty and p.name not in store
    ]
    if missing:
        raise MissingDependencies(f"flow {name}", missing, method="factory")
    return {key: value for key, value in store.items() if key in accepted}


def build_flow(factory: FlowFactory, name: str, store: Mapping[str, Any]) -> Any:
    """Call ``factory`` with what it accepts from ``store``; return the flow.

    :raises MissingDependencies: the factory needs a key the store lacks.
    :raises FlowFactoryFailed: the factory raised or returned no flow.
    """
    from opsflow.flow import Flow

    kwargs = factory_arguments(factory, name, store)
    try:
        flow = factory(**kwargs)
    except Exception as exc:
        raise FlowFactoryFailed(
            f"flow plugin {name!r} could not build its flow: "
            f"{type(exc).__name__}: {exc}",
            exc,
        ) from exc
    if not isinstance(flow, Flow):
        raise FlowFactoryFailed(
            f"flow plugin {name!r} returned {type(flow).__name__}, not a Flow"
        )
    return flow
