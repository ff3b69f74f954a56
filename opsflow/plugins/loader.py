"""The generic part of plugin loading, shared by every namespace module.

Listing names reads entry-point metadata only; a plugin's module is imported
when it is loaded by name or when :meth:`Namespace.scan` loads them all (for
``opsflow-run --list``). Import errors and wrong plugin types become
:class:`BrokenPlugin` records or :class:`PluginBroken` errors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from opsflow.exceptions import PluginError

__all__ = ["BrokenPlugin", "Namespace", "PluginBroken", "PluginNotFound"]

T = TypeVar("T")

#: Returns None when a loaded object fits its namespace, else why it does not.
Check = Callable[[Any], "str | None"]


class PluginNotFound(PluginError):
    """No installed plugin has that name in that namespace."""

    def __init__(self, namespace: str, name: str, available: list[str]) -> None:
        self.namespace = namespace
        self.name = name
        self.available = available
        choices = ", ".join(available) if available else "none installed"
        super().__init__(f"no {namespace} plugin named {name!r} (available: {choices})")


class PluginBroken(PluginError):
    """A plugin exists but cannot be loaded."""

    def __init__(self, broken: BrokenPlugin) -> None:
        self.broken = broken
        super().__init__(
            f"{broken.namespace} plugin {broken.name!r} ({broken.target}) is "
            f"broken: {broken.error}"
        )


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that could not be loaded, and why."""

    namespace: str
    name: str
    target: str
    error: str


@dataclass(frozen=True)
class LoadedPlugin(Generic[T]):
    """A plugin that loaded, with where it came from."""

    name: str
    target: str
    distribution: str | None
    plugin: T


class Namespace(Generic[T]):
    """Loads the plugins of one entry-point namespace through stevedore."""

    def __init__(self, namespace: str, check: Check | None = None) -> None:
        self.namespace = namespace
        self._check = check

    def names(self) -> list[str]:
        """Every installed name, without importing any plugin."""
        from importlib.metadata import entry_points

        return sorted({ep.name for ep in entry_points(group=self.namespace)})

    def load(self, name: str) -> T:
        """The plugin called ``name``.

        :raises PluginNotFound: nothing has that name.
        :raises PluginBroken: it failed to import or is of the wrong kind.
        """
        loaded, broken = self._load(names=[name])
        if broken:
            raise PluginBroken(broken[0])
        if not loaded:
            raise PluginNotFound(self.namespace, name, self.names())
        return loaded[0].plugin

    def scan(self) -> tuple[list[LoadedPlugin[T]], list[BrokenPlugin]]:
        """Load every plugin: those that work and those that do not."""
        return self._load(names=None)

    def _load(
        self, names: list[str] | None
    ) -> tuple[list[LoadedPlugin[T]], list[BrokenPlugin]]:
        from stevedore import ExtensionManager, NamedExtensionManager

        broken: list[BrokenPlugin] = []

        def on_failure(_manager: Any, entry_point: Any, error: BaseException) -> None:
            broken.append(self._broken(entry_point, _describe(error)))

        manager: Any
        if names is None:
            manager = ExtensionManager(
                self.namespace, on_load_failure_callback=on_failure
            )
        else:
            manager = NamedExtensionManager(
                self.namespace,
                names=names,
                on_load_failure_callback=on_failure,
                # A missing name is raised as PluginNotFound, not logged.
                on_missing_entrypoints_callback=None,
            )
        owners = self._distributions()
        loaded: list[LoadedPlugin[T]] = []
        for extension in manager.extensions:
            why_not = self._check(extension.plugin) if self._check else None
            if why_not:
                broken.append(self._broken(extension.entry_point, why_not))
                continue
            loaded.append(
                LoadedPlugin(
                    name=extension.name,
                    target=extension.entry_point.value,
                    distribution=owners.get(extension.name),
                    plugin=extension.plugin,
                )
            )
        loaded.sort(key=lambda item: item.name)
        broken.sort(key=lambda item: item.name)
        return loaded, broken

    def _distributions(self) -> dict[str, str]:
        # stevedore's cached entry points do not say which distribution
        # registered them; importlib.metadata does.
        from importlib.metadata import entry_points

        owners: dict[str, str] = {}
        for ep in entry_points(group=self.namespace):
            if ep.dist is not None:
                owners.setdefault(ep.name, ep.dist.name)
        return owners

    def _broken(self, entry_point: Any, error: str) -> BrokenPlugin:
        return BrokenPlugin(
            namespace=self.namespace,
            name=entry_point.name,
            target=entry_point.value,
            error=error,
        )


def _describe(error: BaseException) -> str:
    text = str(error) or "(no message)"
    return f"{type(error).__name__}: {text}"
