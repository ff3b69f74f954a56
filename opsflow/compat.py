"""Run an unchanged TaskFlow program on opsflow.

``install_as_taskflow()`` puts a finder at the front of ``sys.meta_path``
that answers every ``import taskflow`` and ``import taskflow.X`` with
opsflow's own module of the same place, in the way PyMySQL's
``install_as_MySQLdb()`` stands in for MySQLdb::

    import opsflow.compat
    opsflow.compat.install_as_taskflow()

    from taskflow import engines          # opsflow.engines
    from taskflow.patterns import linear_flow

The module object a program gets *is* opsflow's (``taskflow.task.Task is
opsflow.task.Task``), so there is one set of classes and pickles name
``opsflow``. A module opsflow does not have raises ``ModuleNotFoundError``
saying so; the finder never falls through to a real TaskFlow installed
beside it, so a program never mixes the two. A missing attribute raises
Python's usual ``ImportError``/``AttributeError``, which names the opsflow
module that lacks it.

Setting ``OPSFLOW_AS_TASKFLOW=1`` does the same at interpreter start when the
optional ``opsflow-as-taskflow`` distribution is installed (its ``.pth``
file calls :func:`install_from_environment`).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import types
from collections.abc import Sequence

__all__ = [
    "ENVIRONMENT_VARIABLE",
    "TaskflowAlreadyImported",
    "install_as_taskflow",
    "install_from_environment",
    "installed",
    "uninstall",
]

#: Set to ``1`` to install the finder at start-up (``opsflow-as-taskflow``).
ENVIRONMENT_VARIABLE = "OPSFLOW_AS_TASKFLOW"

_PREFIX = "taskflow"

#: TaskFlow modules that live elsewhere in opsflow, and hold the same public
#: names there. Every other ``taskflow.X`` maps to ``opsflow.X``.
_MOVED = {
    "taskflow.engines.action_engine": "opsflow.engines",
    "taskflow.engines.action_engine.engine": "opsflow.engines.engine",
    "taskflow.engines.action_engine.executor": "opsflow.executors.base",
}


class TaskflowAlreadyImported(ImportError):
    """The real TaskFlow was imported before the finder could stand in."""


def _opsflow_name(fullname: str) -> str:
    return _MOVED.get(fullname) or "opsflow" + fullname[len(_PREFIX) :]


class _AliasLoader(importlib.abc.Loader):
    """Loads ``taskflow.X`` by putting ``opsflow.X`` in its place."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        # The import system reads the module back from sys.modules once this
        # returns, so replacing the placeholder hands the caller opsflow's
        # module itself, with its own name, spec and file left untouched.
        target = importlib.import_module(self.target)
        sys.modules[module.__name__] = target
        # ``from taskflow.X import child`` imports ``<target>.child`` when the
        # attribute is missing; a child that moved elsewhere in opsflow is
        # not there, so it is set on the parent as its own import would.
        for moved, home in _MOVED.items():
            parent, _, child = moved.rpartition(".")
            if parent == module.__name__ and not hasattr(target, child):
                setattr(target, child, importlib.import_module(home))


class _TaskflowFinder(importlib.abc.MetaPathFinder):
    """Answers ``taskflow`` and ``taskflow.*`` with opsflow's modules."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _PREFIX and not fullname.startswith(_PREFIX + "."):
            return None
        opsflow_name = _opsflow_name(fullname)
        try:
            found = importlib.util.find_spec(opsflow_name)
        except ModuleNotFoundError:
            found = None
        if found is None:
            # Never None: the next finder on sys.meta_path would load the
            # real TaskFlow's module, if it is installed, among opsflow's.
            raise ModuleNotFoundError(
                f"opsflow has no module {opsflow_name!r} "
                f"(imported as {fullname!r}): this part of TaskFlow is not "
                "provided by opsflow",
                name=fullname,
            )
        return importlib.util.spec_from_loader(
            fullname,
            _AliasLoader(opsflow_name),
            is_package=found.submodule_search_locations is not None,
        )


_FINDER = _TaskflowFinder()


def installed() -> bool:
    """Whether ``import taskflow`` gives opsflow in this interpreter."""
    return _FINDER in sys.meta_path


def install_as_taskflow() -> None:
    """Make ``import taskflow`` and ``import taskflow.X`` give opsflow.

    Call it once at start-up, before anything imports ``taskflow``; calling
    it again does nothing. Raises :class:`TaskflowAlreadyImported` when the
    real TaskFlow is already imported, since its classes and opsflow's
    would then live side by side.
    """
    if installed():
        return
    already = sys.modules.get(_PREFIX)
    if already is not None:
        raise TaskflowAlreadyImported(
            "the real taskflow is already imported (from "
            f"{getattr(already, '__file__', None) or 'an unknown place'}); call "
            "opsflow.compat.install_as_taskflow() before anything imports taskflow"
        )
    sys.meta_path.insert(0, _FINDER)


def uninstall() -> None:
    """Remove the finder and forget the ``taskflow`` names it handed out."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n in sys.modules if n == _PREFIX or n.startswith("taskflow.")]:
        if getattr(sys.modules[name], "__name__", "").startswith("opsflow"):
            del sys.modules[name]


def install_from_environment() -> None:
    """Install the finder when ``OPSFLOW_AS_TASKFLOW=1`` (the ``.pth`` hook)."""
    if os.environ.get(ENVIRONMENT_VARIABLE) == "1":
        install_as_taskflow()
