"""What ``opsflow-run`` checks of its configuration before a run starts.

The flow itself is built, compiled and validated by
:meth:`opsflow.runs.service.RunService.prepare`; here are the checks of
what only the command has: the listeners it names (from ``[engine]
listeners`` and ``--listener``, with errors that say which file or flag a
name came from) and the store's driver package for ``--dry-run``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from oslo_config import cfg

if TYPE_CHECKING:
    from opsflow.plugins.catalog import Catalog

__all__ = ["attach_listeners", "check_listeners", "check_store"]


def check_store(conf: cfg.ConfigOpts, catalog: Catalog) -> None:
    """The persistence backend's driver package is installed (for
    ``--dry-run``, which opens no store); raises ``MissingPackage``."""
    from opsflow.persistence import backends

    backends.check_available({"connection": conf.persistence.connection}, catalog)


def attach_listeners(
    conf: cfg.ConfigOpts, catalog: Catalog, flag_names: Sequence[str], engine: Any
) -> list[Any]:
    """Listeners from ``[engine] listeners`` then from ``--listener``."""
    from opsflow.conf.loader import where_set
    from opsflow.plugins import listeners

    path, _value = where_set(conf, "engine", "listeners")
    return [
        *listeners.create_listeners(
            catalog.listeners,
            conf.engine.listeners,
            engine,
            source=path,
            option="[engine] listeners",
        ),
        *listeners.create_listeners(catalog.listeners, flag_names, engine),
    ]


def check_listeners(
    conf: cfg.ConfigOpts, catalog: Catalog, flag_names: Sequence[str]
) -> None:
    """Every listener named in ``[engine] listeners`` and by ``--listener``
    is installed: checked before a run is recorded or announced, so an
    unknown name leaves nothing behind."""
    from opsflow.conf.loader import where_set
    from opsflow.plugins import listeners

    path, _value = where_set(conf, "engine", "listeners")
    listeners.listener_classes(
        catalog.listeners,
        conf.engine.listeners,
        source=path,
        option="[engine] listeners",
    )
    listeners.listener_classes(catalog.listeners, flag_names)
