"""Run TaskFlow 6.5.0's own unit tests against opsflow.

The tests and TaskFlow's test helpers (``taskflow/test.py``,
``taskflow/tests/...``) are loaded from the installed ``taskflow``
distribution as they are; every other ``taskflow`` import goes to opsflow
through :func:`opsflow.compat.install_as_taskflow`. Nothing of TaskFlow is
copied here.

TaskFlow's helper module ``tests/utils.py`` and ``test_listeners.py`` import
its ZooKeeper and Redis jobboard helpers at module level. Jobboards on
ZooKeeper/etcd and the worker-based engine are outside what opsflow
provides, so :data:`OUT_OF_SCOPE` gives those imports small stand-ins that
report the service as absent (the tests that need them skip, or are not
collected: see ``run.py``). They exist only inside this harness.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types
from collections.abc import Sequence
from pathlib import Path

#: TaskFlow's own test code, loaded from the taskflow distribution.
TASKFLOW_TEST_PACKAGES = ("taskflow.test", "taskflow.tests")


class OutOfScope(RuntimeError):
    """A test touched a part of TaskFlow that opsflow does not provide."""


def _refuse(*args: object, **kwargs: object) -> None:
    raise OutOfScope("ZooKeeper/Redis jobboards are not part of opsflow")


def _stand_in(name: str, **attributes: object) -> types.ModuleType:
    module = types.ModuleType(name, "Stand-in for a part opsflow does not provide")
    module.__dict__.update(attributes)
    return module


class _ZookeeperJobBoard:
    MIN_ZK_VERSION = (3, 4, 0)


class _AbsentClient:
    """What ``make_client`` gives: a client whose every call says "absent"."""

    def start(self, *args: object, **kwargs: object) -> None:
        _refuse()

    def stop(self) -> None:
        """Nothing was started."""


def _out_of_scope_modules() -> dict[str, types.ModuleType]:
    return {
        # tests/utils.py probes ZooKeeper and Redis with these; _refuse makes
        # the probes answer "not available".
        "taskflow.utils.kazoo_utils": _stand_in(
            "taskflow.utils.kazoo_utils",
            make_client=lambda *args, **kwargs: _AbsentClient(),
            finalize_client=lambda client: None,
        ),
        "taskflow.utils.redis_utils": _stand_in(
            "taskflow.utils.redis_utils", is_server_new_enough=_refuse
        ),
        "taskflow.jobs": _stand_in("taskflow.jobs", __path__=[]),
        "taskflow.jobs.backends": _stand_in(
            "taskflow.jobs.backends", __path__=[], fetch=_refuse
        ),
        "taskflow.jobs.backends.impl_zookeeper": _stand_in(
            "taskflow.jobs.backends.impl_zookeeper",
            ZookeeperJobBoard=_ZookeeperJobBoard,
        ),
        "taskflow.listeners.claims": _stand_in(
            "taskflow.listeners.claims", CheckingClaimListener=_refuse
        ),
        "taskflow.engines.worker_based": _stand_in(
            "taskflow.engines.worker_based", __path__=[]
        ),
        "taskflow.engines.worker_based.engine": _stand_in(
            "taskflow.engines.worker_based.engine", WorkerBasedActionEngine=_refuse
        ),
        "taskflow.engines.worker_based.worker": _stand_in(
            "taskflow.engines.worker_based.worker", Worker=_refuse
        ),
    }


def taskflow_directory() -> Path:
    """Where the installed taskflow package lives (nothing is imported)."""
    spec = importlib.util.find_spec("taskflow")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("taskflow 6.5.0 is not installed in this environment")
    return Path(next(iter(spec.submodule_search_locations)))


class _TaskflowTestsFinder(importlib.abc.MetaPathFinder):
    """Loads ``taskflow.test`` and ``taskflow.tests.*`` from TaskFlow's files."""

    def __init__(self, directory: Path) -> None:
        self.directory = str(directory)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in TASKFLOW_TEST_PACKAGES:
            # Their parent is opsflow's package: look in TaskFlow's instead.
            return importlib.machinery.PathFinder.find_spec(fullname, [self.directory])
        if fullname.startswith("taskflow.tests."):
            return importlib.machinery.PathFinder.find_spec(fullname, path)
        return None


def install_for_opsflow() -> None:
    """Point ``taskflow`` at opsflow, keeping TaskFlow's own test files."""
    import opsflow.compat

    directory = taskflow_directory()
    opsflow.compat.install_as_taskflow()
    for name, stand_in in _out_of_scope_modules().items():
        sys.modules[name] = stand_in
        # ``from taskflow.utils import kazoo_utils`` reads the attribute of the
        # parent, which is an opsflow module (unless it is a stand-in too).
        parent, _, child = name.rpartition(".")
        if parent not in _out_of_scope_modules():
            setattr(importlib.import_module(parent), child, stand_in)
    # In front of opsflow's finder, which would otherwise answer these too.
    sys.meta_path.insert(0, _TaskflowTestsFinder(directory))
    # ``from taskflow import test`` looks the name up on the package first,
    # and the package is opsflow's: importing them here sets that attribute.
    for name in TASKFLOW_TEST_PACKAGES:
        importlib.import_module(name)
