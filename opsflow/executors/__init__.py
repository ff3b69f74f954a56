"""Executor drivers: where tasks run, chosen by name from ``opsflow.executors``.

Each driver is a small module wrapping one PEP 3148 pool around
``opsflow.executors.base.run_task``:

* ``synchronous``: in the engine's own thread, one at a time;
* ``thread`` (``threads``, ``threaded``): a futurist thread pool;
* ``process`` (``processes``): a futurist process pool, with progress
  relayed from the children and a killed child reported by signal;
* ``greenthread`` (``greenthreads``): a futurist green thread pool
  (needs ``pip install opsflow[eventlet]``).

Third-party drivers register under the same namespace and are chosen the
same way (``[engine] executor = NAME`` or ``engines.load(executor=NAME)``).
"""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
from typing import TYPE_CHECKING, Any

from opsflow import exceptions
from opsflow.executors.base import FuturesTaskExecutor, TaskExecutor

if TYPE_CHECKING:
    from opsflow.plugins.catalog import Catalog

__all__ = ["driver", "load"]


def load(
    executor: Any,
    max_workers: int | None = None,
    conf: Any = None,
    catalog: Catalog | None = None,
) -> TaskExecutor:
    """A task executor for a driver name, a ``TaskExecutor``, or a PEP 3148 pool.

    A driver whose constructor takes ``conf`` is given the program's
    configuration (``conf``; None: the one oslo.config finds). Names are
    looked up in ``catalog`` (the program's plugins; None: the default one).

    :raises ConfigurationError: no installed driver has that name.
    """
    if isinstance(executor, TaskExecutor):
        return executor
    if isinstance(executor, concurrent.futures.Executor):
        return FuturesTaskExecutor(executor)
    if not isinstance(executor, str):
        raise TypeError(
            f"executor must be a driver name or an executor, not {type(executor)}"
        )
    factory = driver(executor, catalog)
    if conf is not None and "conf" in inspect.signature(factory).parameters:
        return factory(max_workers=max_workers, conf=conf)  # type: ignore[no-any-return]
    return factory(max_workers=max_workers)  # type: ignore[no-any-return]


@functools.cache
def driver(name: str, catalog: Catalog | None = None) -> Any:
    """The driver class registered as ``name`` (looked up once per catalog)."""
    from opsflow.plugins.executors import load_driver

    try:
        return load_driver(name, catalog)
    except exceptions.PluginError as exc:
        # Only names that are not built in reach the plugin loader (which
        # raised this): a built-in driver never imports it.
        from opsflow.plugins.loader import PluginNotFound

        if not isinstance(exc, PluginNotFound):
            raise
        raise exceptions.ConfigurationError(
            f"unknown executor {name!r} (available: "
            f"{', '.join(exc.available) or 'none installed'})"
        ) from exc
