"""``demo-provision`` and ``demo-deprovision``: a small web service, no root needed.

``demo-provision`` creates a work directory, renders the service's config
and its page, starts an HTTP server on a free 127.0.0.1 port (detached, with
a pidfile and a log), checks that it answers, and records it in the
inventory. A second ``demo-provision`` into the same directory stops at
``render_config``, before it overwrites the live config, and reverts (the
running demo is left alone). ``--store fail_at=<step>`` adds a failure
right after that step: the run ends REVERTED and nothing is left (no
directory, no process, no port, no inventory line). ``demo-deprovision``
removes a provisioned demo.

Store keys: ``workdir`` (default ``<state_path>/demo``), ``inventory``
(default ``<state_path>/inventory.jsonl``), ``fail_at``.
"""

from __future__ import annotations

import os
import sys
from importlib import resources

from opsflow.patterns import linear_flow
from opsflow_linux import faults, files, paths, services
from opsflow_linux.fill import literal
from opsflow_linux.inventory import InventoryRecord, InventoryRemove

__all__ = ["DEMO_STEPS", "demo_deprovision", "demo_provision"]

#: The steps of ``demo-provision``, in order (the values ``fail_at`` takes).
DEMO_STEPS = (
    "create_workdir",
    "pick_port",
    "render_config",
    "write_page",
    "start_service",
    "health_check",
    "record_inventory",
)

TITLE = "opsflow demo"


def template(name: str) -> str:
    """The text of one of this package's templates."""
    return resources.files("opsflow_linux").joinpath("templates", name).read_text()


def _locations(workdir: str | None, inventory_path: str | None) -> tuple[str, str]:
    state = paths.state_path() if not (workdir and inventory_path) else ""
    workdir = os.path.abspath(workdir or os.path.join(state, "demo"))
    inventory_path = os.path.abspath(
        inventory_path or os.path.join(state, "inventory.jsonl")
    )
    return workdir, inventory_path


def demo_provision(
    workdir: str | None = None,
    inventory: str | None = None,
    fail_at: str | None = None,
) -> linear_flow.Flow:
    """The ``demo-provision`` flow."""
    workdir, inventory_path = _locations(workdir, inventory)
    here = literal(workdir)
    variables = {"name": TITLE, "workdir": workdir}
    steps = [
        files.Directory(here, mode=0o755, name="create_workdir"),
        services.FreePort("127.0.0.1", name="pick_port", provides="port"),
        files.Template(
            f"{here}/demo.conf",
            template("demo.conf.j2"),
            variables=variables,
            replace=False,  # a second provision must not touch a live config
            requires=["port"],
            name="render_config",
        ),
        files.Template(
            f"{here}/index.html",
            template("demo-index.html.j2"),
            variables=variables,
            replace=False,
            requires=["port"],
            name="write_page",
        ),
        services.Service(
            [sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
            pidfile=f"{here}/service.pid",
            logfile=f"{here}/service.log",
            cwd=here,
            requires=["port"],
            name="start_service",
        ),
        services.HttpHealthCheck(
            "http://127.0.0.1:{port}/",
            expect_text=TITLE,
            requires=["port"],
            name="health_check",
        ),
        InventoryRecord(
            literal(inventory_path),
            {"kind": "demo", "workdir": here, "url": "http://127.0.0.1:{port}/"},
            requires=["port"],
            name="record_inventory",
        ),
    ]
    return faults.linear_with_failure_at("demo-provision", steps, fail_at)


def demo_deprovision(
    workdir: str | None = None,
    inventory: str | None = None,
    fail_at: str | None = None,
) -> linear_flow.Flow:
    """The ``demo-deprovision`` flow: stop the service, forget it, remove its files."""
    workdir, inventory_path = _locations(workdir, inventory)
    steps = [
        services.StopService(os.path.join(workdir, "service.pid"), name="stop_service"),
        InventoryRemove(
            inventory_path, {"kind": "demo", "workdir": workdir}, name="remove_record"
        ),
        files.RemoveTree(workdir, name="remove_workdir"),
    ]
    return faults.linear_with_failure_at("demo-deprovision", steps, fail_at)
