"""``opsflow.executors``: executor drivers, chosen by ``[engine] executor``.

:func:`load_driver` finds a driver class by name. opsflow's own drivers are
listed in :data:`BUILT_IN` (the same names its distribution registers as
entry points) and imported straight from there: choosing ``synchronous``
or ``thread`` costs one import, no scan of every distribution's metadata
and no stevedore manager. Any other name is an entry point, loaded through
the catalog's namespace like every plugin.

:func:`resolve_executor` is the one place a configured driver name is
checked, with an error that says which file or flag it came from.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from opsflow.plugins.catalog import Catalog
    from opsflow.plugins.loader import EntryPoints, Namespace

__all__ = ["BUILT_IN", "NAMESPACE", "load_driver", "namespace", "resolve_executor"]

NAMESPACE = "opsflow.executors"

#: Driver name -> ``module:class`` of the drivers opsflow ships (a unit
#: test checks it against the entry points opsflow's distribution declares).
BUILT_IN: dict[str, str] = {
    "synchronous": "opsflow.executors.synchronous:SynchronousDriver",
    "thread": "opsflow.executors.thread:ThreadDriver",
    "threads": "opsflow.executors.thread:ThreadDriver",
    "threaded": "opsflow.executors.thread:ThreadDriver",
    "process": "opsflow.executors.process:ProcessDriver",
    "processes": "opsflow.executors.process:ProcessDriver",
    "greenthread": "opsflow.executors.greenthread:GreenThreadDriver",
    "greenthreads": "opsflow.executors.greenthread:GreenThreadDriver",
    "greenthreaded": "opsflow.executors.greenthread:GreenThreadDriver",
    "celery": "opsflow.executors.celery:CeleryTaskExecutor",
}


def namespace(entry_points: EntryPoints | None = None) -> Namespace[object]:
    """The executor namespace over ``entry_points`` (a fresh table if None)."""
    # Imported here: a built-in driver, the engine's usual pick, needs none of
    # the entry-point machinery (its dataclasses alone cost a first run ~2 ms).
    from opsflow.plugins.loader import Namespace

    return Namespace(NAMESPACE, entry_points=entry_points)


def load_driver(name: str, catalog: Catalog | None = None) -> object:
    """The driver class called ``name``: built in, else an installed plugin.

    ``catalog`` is only consulted for names that are not built in (None:
    the default catalog).

    :raises PluginNotFound: no driver has that name.
    :raises PluginBroken: the plugin is installed but does not load.
    """
    target = BUILT_IN.get(name)
    if target is not None:
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)
    from opsflow.plugins.catalog import default_catalog

    return (catalog or default_catalog()).executors.load(name)


def resolve_executor(
    drivers: Namespace[object],
    name: str | None,
    source: str = "opsflow.conf",
    option: str | None = "[engine] executor",
) -> str | None:
    """Check an executor driver name; the name to pass to the engine.

    None (nothing configured) stays None: the engine picks its own driver.
    ``source`` and ``option`` say where the name came from (a file and
    option, or a flag and None), for the error message.

    The names are those ``drivers`` lists (the installed entry points,
    built-in drivers included, since opsflow's distribution registers them).

    :raises ConfigError: the name is not installed; lists those that are.
    """
    if name is None:
        return None
    available = drivers.names()
    if name in available:
        return name
    from opsflow.conf.errors import invalid_value

    allowed = ", ".join(available) or "none installed"
    raise invalid_value(source, option, name, "an installed executor driver", allowed)
