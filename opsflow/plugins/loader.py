"""The generic part of plugin loading, shared by every namespace module.

Listing names reads entry-point metadata only; a plugin's module is imported
when it is loaded by name or when :meth:`Namespace.scan` loads them all (for
``opsflow-run --list``). Import errors and wrong plugin types become
:class:`BrokenPlugin` records or :class:`PluginBroken` errors.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from opsflow.exceptions import ExitCode, PluginError

if TYPE_CHECKING:
    from importlib.metadata import Distribution, EntryPoint

__all__ = ["BrokenPlugin", "EntryPoints", "Namespace", "PluginBroken", "PluginNotFound"]

T = TypeVar("T")

#: Returns None when a loaded object fits its namespace, else why it does not.
Check = Callable[[Any], "str | None"]


class PluginNotFound(PluginError):
    """No installed plugin has that name in that namespace."""

    exit_code = ExitCode.USAGE  # a name the operator typed

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


class EntryPoints:
    """The installed entry points, read from the distributions' metadata once.

    Every namespace of one :class:`~opsflow.plugins.catalog.Catalog` asks
    this table instead of scanning the metadata again.
    """

    def __init__(self) -> None:
        self._groups: dict[str, tuple[EntryPoint, ...]] | None = None
        self._names: dict[int, str] = {}  # id of a Distribution -> its name

    def distribution_name(self, dist: Distribution) -> str:
        """``dist.name``, read once per distribution (every read of it
        parses the distribution's metadata file again)."""
        name = self._names.get(id(dist))
        if name is None:  # the entry points keep ``dist`` alive, and its id
            name = self._names[id(dist)] = dist.name
        return name

    def group(self, namespace: str) -> tuple[EntryPoint, ...]:
        """The entry points of ``namespace``, first registered first."""
        if self._groups is None:
            from importlib.metadata import entry_points

            everything: Any = entry_points()
            if isinstance(everything, dict):  # Python 3.11: grouped already
                self._groups = {
                    name: tuple(found) for name, found in dict.items(everything)
                }
            else:
                groups: dict[str, list[EntryPoint]] = {}
                for entry in everything:
                    groups.setdefault(entry.group, []).append(entry)
                self._groups = {name: tuple(found) for name, found in groups.items()}
        return self._groups.get(namespace, ())


class Namespace(Generic[T]):
    """Loads the plugins of one entry-point namespace through stevedore."""

    def __init__(
        self,
        namespace: str,
        check: Check | None = None,
        entry_points: EntryPoints | None = None,
    ) -> None:
        self.namespace = namespace
        self._check = check
        self._entry_points = entry_points or EntryPoints()

    def entry_points(self) -> tuple[EntryPoint, ...]:
        """This namespace's entry points (their modules not imported)."""
        return self._entry_points.group(self.namespace)

    def names(self) -> list[str]:
        """Every installed name, without importing any plugin."""
        return sorted({ep.name for ep in self.entry_points()})

    def entry_point(self, name: str) -> EntryPoint | None:
        """The entry point registered as ``name``, or None."""
        return next((ep for ep in self.entry_points() if ep.name == name), None)

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
        broken: list[BrokenPlugin] = []

        def on_failure(_manager: Any, entry_point: Any, error: BaseException) -> None:
            broken.append(self._broken(entry_point, _describe(error)))

        listed, named = _manager_classes()
        manager: Any
        if names is None:
            manager = listed(
                self.entry_points(), self.namespace, on_load_failure_callback=on_failure
            )
        else:
            manager = named(
                self.entry_points(),
                self.namespace,
                names=names,
                on_load_failure_callback=on_failure,
                # A missing name is raised as PluginNotFound, not logged.
                on_missing_entrypoints_callback=None,
            )
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
                    distribution=self._distribution(extension.name),
                    plugin=extension.plugin,
                )
            )
        loaded.sort(key=lambda item: item.name)
        broken.sort(key=lambda item: item.name)
        return loaded, broken

    def _distribution(self, name: str) -> str | None:
        """The distribution that registered ``name`` first.

        Asked only for the plugins loaded: a distribution's name is read
        from its metadata file, parsed anew each time it is asked.
        """
        for ep in self.entry_points():
            if ep.name == name and ep.dist is not None:
                return self._entry_points.distribution_name(ep.dist)
        return None

    def _broken(self, entry_point: Any, error: str) -> BrokenPlugin:
        return BrokenPlugin(
            namespace=self.namespace,
            name=entry_point.name,
            target=entry_point.value,
            error=error,
        )


@functools.cache
def _manager_classes() -> tuple[type, type]:
    """stevedore's managers over the entry points a :class:`Namespace` gives.

    stevedore loads, reports failures and orders the extensions; the entry
    points come from the catalog's table, read once, instead of stevedore's
    own lookup, which keeps the first list of each namespace for the life of
    the process (a plugin installed since, or a second catalog, would not be
    seen).
    """
    from stevedore import ExtensionManager, NamedExtensionManager

    class Listed:
        def __init__(
            self, entry_points: Iterable[EntryPoint], *args: Any, **kwargs: Any
        ) -> None:
            self._listed = list(entry_points)
            super().__init__(*args, **kwargs)

        def list_entry_points(self) -> list[EntryPoint]:
            return self._listed

    class ListedExtensionManager(Listed, ExtensionManager[Any]):
        pass

    class ListedNamedExtensionManager(Listed, NamedExtensionManager[Any]):
        pass

    return ListedExtensionManager, ListedNamedExtensionManager


def _describe(error: BaseException) -> str:
    text = str(error) or "(no message)"
    return f"{type(error).__name__}: {text}"
