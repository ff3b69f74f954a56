"""futurist without eventlet for thread and process pools, green when asked.

Each case runs in a fresh interpreter: what is imported, and futurist's
own view of eventlet, depend on what the process imported before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opsflow.utils.eventlet_utils import EVENTLET_AVAILABLE

BLOCKER = Path(__file__).resolve().parents[2] / "functional" / "importblock"

needs_eventlet = pytest.mark.skipif(
    not EVENTLET_AVAILABLE, reason="eventlet (opsflow[eventlet]) is not installed"
)

#: Runs a thread pool and, when eventlet can be had, a green pool and a
#: wait on green futures; prints what it saw as JSON.
THREADS_THEN_GREEN = """
import json, sys
from opsflow.executors import pools

seen = {}
futurist = pools.futurist()
waiters = pools.waiters()
seen["eventlet_after_threads"] = "eventlet" in sys.modules
pool = futurist.ThreadPoolExecutor(2)
seen["thread_result"] = pool.submit(lambda: 6 * 7).result()
pool.shutdown()
{then}
green = futurist.GreenThreadPoolExecutor(4)
futures = [green.submit(lambda i=i: i * 2) for i in range(3)]
done = waiters.wait_for_all(futures, timeout=10)
seen["green_results"] = sorted(f.result() for f in done.done)
seen["green_future"] = type(futures[0]).__name__
green.shutdown()
print(json.dumps(seen))
"""


def run(code: str, env: dict[str, str] | None = None) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Eventlet is deprecated" not in done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@needs_eventlet
def test_thread_pools_leave_eventlet_out_until_something_imports_it():
    seen = run(
        THREADS_THEN_GREEN.replace(
            "{then}",
            "import warnings\nwarnings.simplefilter('ignore')\nimport eventlet",
        )
    )
    assert seen["eventlet_after_threads"] is False
    assert seen["thread_result"] == 42
    assert seen["green_results"] == [0, 2, 4]
    assert seen["green_future"] == "GreenFuture"


@needs_eventlet
def test_asking_for_green_threads_imports_eventlet_for_futurist():
    seen = run(
        THREADS_THEN_GREEN.replace("{then}", "futurist = pools.futurist(green=True)")
    )
    assert seen["eventlet_after_threads"] is False
    assert seen["green_results"] == [0, 2, 4]


@needs_eventlet
def test_a_green_pool_asked_for_first_works_as_futurist_alone_would():
    code = (
        "import json, sys\n"
        "from opsflow.executors import pools\n"
        "futurist = pools.futurist(green=True)\n"
        "pool = futurist.GreenThreadPoolExecutor(2)\n"
        "result = pool.submit(lambda: 5).result()\n"
        "pool.shutdown()\n"
        "print(json.dumps({'eventlet': 'eventlet' in sys.modules, 'result': result,"
        " 'available': futurist._utils.EVENTLET_AVAILABLE}))\n"
    )
    assert run(code) == {"eventlet": True, "result": 5, "available": True}


@needs_eventlet
def test_eventlet_imported_before_futurist_is_used_by_it_from_the_start():
    code = (
        "import json, warnings\n"
        "warnings.simplefilter('ignore')  # eventlet's own, imported by the program\n"
        "import eventlet\n"
        "from opsflow.executors import pools\n"
        "futurist = pools.futurist()\n"
        "print(json.dumps({'available': futurist._utils.EVENTLET_AVAILABLE}))\n"
    )
    assert run(code) == {"available": True}


def test_without_eventlet_thread_pools_work_and_green_ones_are_refused():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(BLOCKER), env.get("PYTHONPATH")) if p
    )
    env["OPSFLOW_TEST_BLOCKED_IMPORTS"] = "eventlet"
    code = (
        "import json\n"
        "from opsflow.executors import pools\n"
        "futurist = pools.futurist()\n"
        "pool = futurist.ThreadPoolExecutor(1)\n"
        "result = pool.submit(lambda: 3).result()\n"
        "pool.shutdown()\n"
        "try:\n"
        "    pools.futurist(green=True)\n"
        "except ImportError as exc:\n"
        "    refused = exc.name\n"
        "print(json.dumps({'result': result, 'refused': refused}))\n"
    )
    assert run(code, env) == {"result": 3, "refused": "eventlet"}
