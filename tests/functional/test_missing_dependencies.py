"""A missing optional package or an unreachable service is exit 69, found
before anything is recorded or run (by ``--dry-run`` too), within 5 s.

"Not installed" is made real by ``importblock/sitecustomize.py``: put first
on the subprocess's ``PYTHONPATH``, it makes Python's import system raise
``ModuleNotFoundError`` for the packages named in
``OPSFLOW_TEST_BLOCKED_IMPORTS``, as where they are not installed. Closed
ports come from sockets the test binds and closes again.
"""

from __future__ import annotations

import os
import socket
import time

import pytest

BLOCKER = os.path.join(os.path.dirname(__file__), "importblock")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _without(cli, *packages: str):
    cli.env["PYTHONPATH"] = os.pathsep.join(
        [BLOCKER, *filter(None, [cli.env.get("PYTHONPATH")])]
    )
    cli.env["OPSFLOW_TEST_BLOCKED_IMPORTS"] = ",".join(packages)
    return cli


def _configure(cli, text: str) -> None:
    with open(cli.config, "a") as handle:
        handle.write(text)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _refused(cli, *args: str):
    """Run opsflow-run; assert exit 69 within 5 s and nothing recorded."""
    started = time.monotonic()
    result = cli.run(*args)
    elapsed = time.monotonic() - started
    assert result.returncode == 69, result.stderr
    assert elapsed < 5.0, f"took {elapsed:.1f}s"
    (line,) = [line for line in result.stderr.splitlines() if " INFO " not in line]
    assert line.startswith("opsflow-run: error: "), line
    assert not os.path.exists(cli.state), "something was recorded"
    return line


@pytest.mark.parametrize("package", ["celery", "kombu", "redis"])
@pytest.mark.parametrize("dry_run", [False, True])
def test_the_celery_executor_without_its_packages_is_refused_naming_the_extra(
    cli, package, dry_run
):
    _configure(cli, "[engine]\nexecutor = celery\n")
    line = _refused(_without(cli, package), "demo", *(["--dry-run"] if dry_run else []))
    assert (
        f"the celery executor needs the Python package {package!r}, which is not "
        "installed: pip install 'opsflow[celery]'"
    ) in line


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_celery_executor_with_its_broker_down_is_refused_naming_it(cli, dry_run):
    port = _closed_port()
    _configure(
        cli,
        "[engine]\nexecutor = celery\n[celery_executor]\n"
        f"broker_url = amqp://guest:hunter2@127.0.0.1:{port}//\n",
    )
    line = _refused(cli, "demo", *(["--dry-run"] if dry_run else []))
    assert f"cannot reach its broker amqp://guest:***@127.0.0.1:{port}//" in line
    assert "hunter2" not in line


def test_the_celery_executor_with_its_result_backend_down_is_refused_naming_it(cli):
    port = _closed_port()
    _configure(
        cli,
        "[engine]\nexecutor = celery\n[celery_executor]\n"
        f"result_backend = redis://:hunter2@127.0.0.1:{port}/0\n",
    )
    line = _refused(cli, "demo")
    assert f"cannot reach its result backend redis://:***@127.0.0.1:{port}/0" in line
    assert "hunter2" not in line


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_greenthread_executor_without_eventlet_is_refused_naming_the_extra(
    cli, dry_run
):
    line = _refused(
        _without(cli, "eventlet"),
        "demo",
        "--executor",
        "greenthread",
        *(["--dry-run"] if dry_run else []),
    )
    assert (
        "the greenthread executor needs the Python package 'eventlet', which is "
        "not installed: pip install 'opsflow[eventlet]'"
    ) in line


@pytest.mark.parametrize(
    ("url", "package", "distribution", "extra"),
    [
        (
            "postgresql://postgres:hunter2@127.0.0.1/test",
            "psycopg",
            "psycopg",
            "postgresql",
        ),
        ("mysql://root:hunter2@127.0.0.1/opsflow", "pymysql", "PyMySQL", "mysql"),
    ],
)
@pytest.mark.parametrize("dry_run", [False, True])
def test_a_store_without_its_database_driver_is_refused_naming_the_extra(
    cli, url, package, distribution, extra, dry_run
):
    _configure(cli, f"[persistence]\nconnection = {url}\n")
    line = _refused(_without(cli, package), "demo", *(["--dry-run"] if dry_run else []))
    assert (
        f"needs the Python package {distribution!r}, which is not installed: "
        f"pip install 'opsflow[{extra}]'"
    ) in line
    assert "hunter2" not in line
