"""The engine's own stack under a task, and what the engine and drivers import."""

import json
import subprocess
import sys
import traceback

import pytest

from opsflow import engines, task
from opsflow.patterns import linear_flow

#: Python frames from ``engine.run()`` to ``task.execute()``, both excluded.
MOST_ENGINE_FRAMES = 8


class StackRecorder(task.Task):
    """Records the stack it executes on, then fails (so revert runs too)."""

    stacks: list[traceback.StackSummary] = []

    def execute(self) -> None:
        self.stacks.append(traceback.extract_stack())
        raise RuntimeError("recorded")

    def revert(self, **kwargs: object) -> None:
        self.stacks.append(traceback.extract_stack())


def engine_frames(stack: traceback.StackSummary) -> list[str]:
    """Names of the frames between the innermost ``run`` and the task's method."""
    names = [frame.name for frame in stack]
    run = max(i for i, name in enumerate(names) if name == "run")
    return names[run + 1 : -1]


def test_a_serial_task_runs_at_most_eight_frames_under_engine_run():
    StackRecorder.stacks = []
    engine = engines.load(linear_flow.Flow("stack").add(StackRecorder("t")))
    with pytest.raises(RuntimeError, match="recorded"):
        engine.run()

    executed, reverted = StackRecorder.stacks
    assert executed[-1].name == "execute" and reverted[-1].name == "revert"
    for stack in (executed, reverted):
        between = engine_frames(stack)
        # run() drives the machine itself (run_iter() goes through _drive).
        assert between[0] == "_run" and between[-1] == "run_task"
        assert len(between) <= MOST_ENGINE_FRAMES, between


DRIVER_MODULES = [
    "opsflow.executors",
    "opsflow.executors.base",
    "opsflow.executors.synchronous",
    "opsflow.executors.thread",
    "opsflow.executors.greenthread",
    "opsflow.executors.process",
    "opsflow.executors.celery",
]


@pytest.mark.parametrize("module", DRIVER_MODULES)
def test_executor_drivers_import_nothing_of_the_engine(module):
    # In a fresh interpreter, so that no earlier import hides a cycle.
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('opsflow'))))"
    )
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = json.loads(done.stdout)
    assert module in loaded
    assert [name for name in loaded if name.startswith("opsflow.engines")] == []


#: Packages a serial run has no use for: configuration, pools, green threads,
#: database drivers, YAML flows, plugin scanning (the built-in driver is
#: found without the plugin loader).
NOT_ON_THE_SERIAL_PATH = (
    "oslo_config",
    "futurist",
    "eventlet",
    "psycopg",
    "stevedore",
    "importlib.metadata",
    "opsflow.conf.loader",
    "opsflow.plugins.loader",
    "opsflow.yamlflows",
)


def test_a_serial_run_in_a_fresh_process_imports_none_of_the_heavy_packages():
    code = (
        "import json, sys\n"
        "from opsflow import engines, task\n"
        "from opsflow.patterns import linear_flow\n"
        "class T(task.Task):\n"
        "    def execute(self):\n"
        "        return 1\n"
        "engine = engines.load(linear_flow.Flow('f').add(T('a'), T('b')))\n"
        "engine.run()\n"
        "assert engine.storage.get_flow_state() == 'SUCCESS'\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert "opsflow.executors.synchronous" in loaded
    heavy = [
        name
        for name in loaded
        if any(name == p or name.startswith(p + ".") for p in NOT_ON_THE_SERIAL_PATH)
    ]
    assert heavy == []
    assert "Eventlet" not in done.stderr


def test_a_parallel_run_imports_futurist_quietly_and_neither_oslo_config_nor_eventlet():
    code = (
        "import json, sys\n"
        "from opsflow import engines, task\n"
        "from opsflow.patterns import unordered_flow\n"
        "class T(task.Task):\n"
        "    def execute(self):\n"
        "        return 1\n"
        "flow = unordered_flow.Flow('f').add(T('a'), T('b'))\n"
        "engines.load(flow, engine='parallel').run()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert "futurist" in loaded and "oslo_config" not in loaded
    assert [name for name in loaded if name.split(".")[0] == "eventlet"] == []
    assert "Eventlet is deprecated" not in done.stderr
