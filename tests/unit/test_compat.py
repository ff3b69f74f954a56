"""``opsflow.compat.install_as_taskflow()``: ``import taskflow`` gives opsflow.

Each case runs in a fresh interpreter, since the finder changes the whole
process's imports (and this test process may import the real TaskFlow
for the side-by-side tests).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "OPSFLOW_AS_TASKFLOW": "0",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
    )


def test_taskflow_modules_are_opsflows_own_modules():
    done = run_python(
        """
        import opsflow.compat
        opsflow.compat.install_as_taskflow()
        import opsflow.task, opsflow.engines.engine
        import taskflow
        from taskflow import task
        from taskflow.patterns import linear_flow
        from taskflow.engines.action_engine import engine, executor
        import opsflow.executors.base
        import taskflow.persistence.backends.impl_dir as impl_dir
        assert taskflow.__name__ == "opsflow"
        assert task.Task is opsflow.task.Task
        assert linear_flow.__name__ == "opsflow.patterns.linear_flow"
        assert engine.SerialActionEngine is opsflow.engines.engine.SerialActionEngine
        assert executor is opsflow.executors.base
        assert impl_dir.__name__ == "opsflow.persistence.backends.impl_dir"
        print("same")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "same"


def test_a_taskflow_program_runs_unchanged_with_its_reverts():
    done = run_python(
        """
        import opsflow.compat
        opsflow.compat.install_as_taskflow()

        import taskflow.engines
        from taskflow import task
        from taskflow.patterns import linear_flow as lf

        calls = []

        class Step(task.Task):
            def execute(self):
                calls.append(("execute", self.name))

            def revert(self, **kwargs):
                calls.append(("revert", self.name))

        class Boom(task.Task):
            def execute(self):
                raise RuntimeError("boom")

        flow = lf.Flow("demo").add(Step("a"), Step("b"), Boom("c"))
        try:
            taskflow.engines.run(flow)
        except RuntimeError as exc:
            print("raised", exc)
        print(calls)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "raised boom",
        "[('execute', 'a'), ('execute', 'b'), ('revert', 'b'), ('revert', 'a')]",
    ]


def test_a_module_opsflow_lacks_is_refused_by_name_never_taken_from_taskflow():
    done = run_python(
        """
        import opsflow.compat
        opsflow.compat.install_as_taskflow()
        try:
            import taskflow.engines.worker_based.engine
        except ModuleNotFoundError as exc:
            print(exc)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "opsflow has no module 'opsflow.engines.worker_based' (imported as "
        "'taskflow.engines.worker_based'): this part of TaskFlow is not provided "
        "by opsflow"
    )


def test_a_name_opsflow_lacks_raises_an_import_error_naming_the_opsflow_module():
    done = run_python(
        """
        import opsflow.compat
        opsflow.compat.install_as_taskflow()
        try:
            from taskflow.utils.misc import find_subclasses
        except ImportError as exc:
            print(exc.name, "|", str(exc).split(" (")[0])
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        "opsflow.utils.misc | cannot import name 'find_subclasses' from "
        "'opsflow.utils.misc'"
    )


def test_the_real_taskflow_already_imported_is_refused():
    pytest.importorskip("taskflow")  # the test environment installs it
    done = run_python(
        """
        import taskflow
        import opsflow.compat
        try:
            opsflow.compat.install_as_taskflow()
        except opsflow.compat.TaskflowAlreadyImported as exc:
            print("refused:", exc)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: the real taskflow is already imported")


def test_installing_twice_is_harmless_and_uninstall_gives_taskflow_back():
    pytest.importorskip("taskflow")
    done = run_python(
        """
        import opsflow.compat
        opsflow.compat.install_as_taskflow()
        opsflow.compat.install_as_taskflow()
        import taskflow.states
        print(taskflow.states.__name__, opsflow.compat.installed())
        opsflow.compat.uninstall()
        import taskflow.states
        print(taskflow.states.__name__, opsflow.compat.installed())
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["opsflow.states", "True", "taskflow.states", "False"]


def test_the_environment_variable_installs_it_through_install_from_environment():
    program = """
        import opsflow.compat
        opsflow.compat.install_from_environment()
        print(opsflow.compat.installed())
        """
    assert run_python(program, OPSFLOW_AS_TASKFLOW="1").stdout.strip() == "True"
    assert run_python(program).stdout.strip() == "False"


def test_the_helper_modules_taskflow_programs_import_are_there():
    done = run_python(
        """
        import opsflow.compat
        opsflow.compat.install_as_taskflow()
        from taskflow import logging as tf_logging
        from taskflow.types import sets, timing, tree
        from taskflow.utils import iter_utils, misc, threading_utils
        import taskflow.engines

        log = tf_logging.getLogger("demo")
        log.trace("fine detail")
        assert tf_logging.TRACE == 5 < tf_logging.DEBUG
        assert list(sets.OrderedSet([3, 1, 3])) == [3, 1]
        assert timing.convert_to_timeout(0.5).value == 0.5
        assert list(iter_utils.fill([1], 3, 0)) == [1, 0, 0]
        assert misc.clamp(7, 0, 5) == 5
        assert threading_utils.daemon_thread(print).daemon
        root = tree.Node("a")
        root.add(tree.Node("b"))
        assert root.pformat().splitlines() == ["a", "|__b"]
        engine = taskflow.engines.load(
            taskflow.task.FunctorTask(lambda: 1, name="one"), executor="greenthreaded"
        )
        assert engine.options["executor"] == "greenthreaded"
        print("ok")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
