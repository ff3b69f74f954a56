"""The real plugins, run for real through ``opsflow-run``: opsflow-linux and
opsflow-postgres (installed by ``tox -e functional``, found by entry point).

What a flow leaves is checked on the host, not taken from its report: files
under the run's directories, processes (``/proc``), listening TCP ports,
``ip netns``/``ip link``, and ``pg_database``/``pg_roles``. Tenant tests need
root and PostgreSQL: they skip with the reason without them, and fail under
``OPSFLOW_REQUIRE_SERVICES=1``.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid

import pytest

from opsflow.testing import snapshots

DEMO_STEPS = [
    "create_workdir",
    "pick_port",
    "render_config",
    "write_page",
    "start_service",
    "health_check",
    "record_inventory",
]
TENANT_STEPS = [
    "create_netns",
    "create_veth",
    "host_address",
    "tenant_address",
    "host_link_up",
    "tenant_link_up",
    "tenant_loopback_up",
    "create_role",
    "create_database",
    "grant_database",
    "create_workdir",
    "render_config",
    "write_page",
    "start_service",
    "health_check",
    "record_inventory",
]
PG_DSN = os.environ.get("OPSFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
#: opsflow-run's own files in state_path: everything else there is the flows'.
OPSFLOW_OWN = ("opsflow.sqlite", "tracebacks")
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def host(cli) -> dict:
    """What a demo run may change: the flows' files under state_path, and the
    processes started in this test's directories with their listening ports
    (on a shared host, other people's servers come and go)."""
    state = snapshots.files(cli.state)
    ours = snapshots.processes(cwd_under=os.path.dirname(cli.state))
    return {
        "files": {
            path: entry
            for path, entry in state.items()
            if path.split(os.sep)[0] not in OPSFLOW_OWN
        },
        "processes": ours,
        "ports": snapshots.listening_ports(pids=[pid for pid, _ in ours]),
    }


def run_json(cli, *args: str, timeout: float = 60):
    proc = cli.run(*args, "--format", "json", timeout=timeout)
    try:
        return proc, json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON document (exit {proc.returncode}):\n{proc.stderr}")


def test_the_real_plugins_are_found_through_their_entry_points(cli):
    proc, document = run_json(cli, "--list")
    assert proc.returncode == 0, proc.stderr
    text = json.dumps(document)
    for name in (
        "demo-provision",
        "demo-deprovision",
        "provision-tenant",
        "deprovision-tenant",
        "linux.service",
        "postgres.role",
    ):
        assert name in text
    assert "opsflow_linux" not in json.dumps(document.get("broken", {}))


def test_demo_provision_serves_http_and_demo_deprovision_removes_it(cli):
    # Given a host without the demo
    before = host(cli)
    # When demo-provision runs with its defaults (under state_path)
    proc, document = run_json(cli, "demo-provision")
    # Then it succeeds and its page is served on 127.0.0.1
    assert proc.returncode == 0, proc.stderr
    assert document["state"] == "SUCCESS"
    url = document["atoms"]["health_check"]["result"]["url"]
    with NO_PROXY.open(url, timeout=5) as answer:
        assert b"opsflow demo" in answer.read()
    workdir = os.path.join(cli.state, "demo")
    assert sorted(os.listdir(workdir)) == [
        "demo.conf",
        "index.html",
        "service.log",
        "service.pid",
    ]
    with open(os.path.join(cli.state, "inventory.jsonl")) as handle:
        [record] = [json.loads(line) for line in handle]
    assert record["url"] == url and record["workdir"] == workdir
    # When demo-deprovision runs, Then the server, its port and files are gone
    proc = cli.run("demo-deprovision")
    assert proc.returncode == 0, proc.stderr
    after = host(cli)
    assert after["processes"] == before["processes"]
    assert after["ports"] == before["ports"]
    port = int(url.rsplit(":", 1)[1].strip("/"))
    assert ("127.0.0.1", port) not in snapshots.listening_ports()
    assert not os.path.exists(workdir)
    with open(os.path.join(cli.state, "inventory.jsonl")) as handle:
        assert handle.read() == ""


def test_a_second_demo_provision_leaves_the_live_config_alone(cli):
    # Given a provisioned demo, serving
    proc, first = run_json(cli, "demo-provision")
    assert proc.returncode == 0, proc.stderr
    url = first["atoms"]["health_check"]["result"]["url"]
    config = os.path.join(cli.state, "demo", "demo.conf")
    with open(config, "rb") as handle:
        live = handle.read()
    try:
        # When demo-provision runs again into the same directory
        proc, second = run_json(cli, "demo-provision")
        # Then it stops before overwriting the config, and reverts
        assert proc.returncode == 1, proc.stderr
        assert second["atoms"]["render_config"]["state"] == "REVERTED"
        [failure] = second["failures"]
        assert failure["atom"] == "render_config"
        assert f"{config} already exists with other content" in failure["exception"]
        assert second["atoms"]["start_service"]["state"] == "PENDING"
        # And the live demo is as it was: same config, still serving
        with open(config, "rb") as handle:
            assert handle.read() == live
        with NO_PROXY.open(url, timeout=5) as answer:
            assert b"opsflow demo" in answer.read()
    finally:
        assert cli.run("demo-deprovision").returncode == 0


@pytest.mark.parametrize("executor", ["synchronous", "process"])
@pytest.mark.parametrize("step", DEMO_STEPS)
def test_demo_provision_failing_after_any_step_leaves_the_host_as_it_was(
    cli, tmp_path, step, executor
):
    # Given a work dir of our own, and a picture of the host
    workdir = tmp_path / "work"
    before = host(cli)
    # When a failure is injected right after the step
    proc, document = run_json(
        cli,
        "demo-provision",
        "--store",
        f"workdir={workdir}",
        "--store",
        f"fail_at={step}",
        "--executor",
        executor,
    )
    # Then the run is REVERTED (exit 1) and nothing is left
    assert proc.returncode == 1, proc.stderr
    assert document["state"] == "REVERTED"
    [failure] = document["failures"]
    assert failure["atom"] == f"fail_after_{step}"
    assert not workdir.exists()
    assert host(cli) == before


def test_an_unknown_fail_at_step_is_refused_before_anything_runs(cli, tmp_path):
    proc = cli.run(
        "demo-provision", "--store", f"workdir={tmp_path}/w", "--store", "fail_at=nope"
    )
    # A value the flow's factory refuses is the operator's to fix: a usage error
    assert proc.returncode == 64
    assert "flow demo-provision refused its inputs (fail_at, workdir)" in proc.stderr
    assert "fail_at='nope' is not a step of demo-provision" in proc.stderr
    assert not (tmp_path / "w").exists()


# --- provision-tenant: root and PostgreSQL --------------------------------


def require_root_and_postgres() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("root (network namespaces and links)")
    try:
        import psycopg

        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except Exception as exc:
        problems.append(f"PostgreSQL at {PG_DSN} ({exc})".strip())
    if problems:
        reason = "provision-tenant needs " + " and ".join(problems)
        if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (OPSFLOW_REQUIRE_SERVICES=1)")
        pytest.skip(reason)


def ip_json(*args: str) -> list:
    out = subprocess.run(
        ["ip", "-j", *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out or "[]")


def pg_rows(name: str) -> dict:
    import psycopg

    with psycopg.connect(PG_DSN, autocommit=True) as connection:
        return {
            "pg_database": connection.execute(
                "SELECT datname FROM pg_database WHERE datname = %s", (name,)
            ).fetchall(),
            "pg_roles": connection.execute(
                "SELECT rolname FROM pg_roles WHERE rolname = %s", (name,)
            ).fetchall(),
        }


def tenant_host(cli, tenant: str) -> dict:
    """Namespaces, host links with their IPv4 addresses, the tenant's rows,
    its server processes and the flows' files."""
    return {
        "netns": sorted(entry["name"] for entry in ip_json("netns", "list")),
        "links": sorted(
            (
                link["ifname"],
                sorted(a["local"] for a in link["addr_info"] if a["family"] == "inet"),
            )
            for link in ip_json("addr", "show")
        ),
        "postgres": pg_rows(f"tenant_{tenant}"),
        **host(cli),
    }


@pytest.fixture
def tenant(cli):
    """A tenant name of this test only; whatever a failed test left is removed."""
    require_root_and_postgres()
    name = "t" + uuid.uuid4().hex[:9]
    yield name
    leftovers = (
        f"opsflow-{name}" in [entry["name"] for entry in ip_json("netns", "list")]
        or any(pg_rows(f"tenant_{name}").values())
        or os.path.exists(os.path.join(cli.state, "tenants", name))
    )
    if leftovers:  # only a failed test leaves any: clean up for the next ones
        cli.run(
            "deprovision-tenant",
            "--store",
            f"tenant={name}",
            "--store",
            f"pg_dsn={PG_DSN}",
        )


def test_provision_tenant_builds_a_reachable_tenant_and_deprovision_removes_it(
    cli, tenant
):
    before = tenant_host(cli, tenant)
    # When a tenant is provisioned, the database password given as a secret
    proc, document = run_json(
        cli,
        "provision-tenant",
        "--store",
        f"tenant={tenant}",
        "--store",
        f"pg_dsn={PG_DSN}",
        "--secret",
        "db_password=tenant-s3cret",
    )
    assert proc.returncode == 0, proc.stderr
    assert "tenant-s3cret" not in proc.stdout + proc.stderr
    # Then the namespace, the veth ends and their addresses exist
    netns = f"opsflow-{tenant}"
    assert netns in [entry["name"] for entry in ip_json("netns", "list")]
    [host_link] = ip_json("addr", "show", "dev", f"vth-{tenant}")
    [inner_link] = ip_json("-n", netns, "addr", "show", "dev", f"vtn-{tenant}")
    assert "UP" in host_link["flags"] and "UP" in inner_link["flags"]
    inner_ip = next(
        a["local"] for a in inner_link["addr_info"] if a["family"] == "inet"
    )
    # And the database and role, and a server answering through the veth
    assert pg_rows(f"tenant_{tenant}") == {
        "pg_database": [(f"tenant_{tenant}",)],
        "pg_roles": [(f"tenant_{tenant}",)],
    }
    assert snapshots.processes(f"--bind {inner_ip}")
    with NO_PROXY.open(f"http://{inner_ip}:8080/", timeout=5) as answer:
        assert f"tenant {tenant}".encode() in answer.read()
    # When it is deprovisioned, Then all of it is gone
    proc = cli.run(
        "deprovision-tenant",
        "--store",
        f"tenant={tenant}",
        "--store",
        f"pg_dsn={PG_DSN}",
    )
    assert proc.returncode == 0, proc.stderr
    after = tenant_host(cli, tenant)
    # The emptied inventory and the shared parent of all tenants' dirs stay
    assert after["files"].pop("tenants") == ("dir", 0o750, "")
    assert os.listdir(os.path.join(cli.state, "tenants")) == []
    assert after["files"].pop("inventory.jsonl")
    before["files"].pop("inventory.jsonl", None)
    assert after == before


@pytest.mark.parametrize("step", TENANT_STEPS)
def test_provision_tenant_failing_after_any_step_leaves_nothing(cli, tenant, step):
    before = tenant_host(cli, tenant)
    proc, document = run_json(
        cli,
        "provision-tenant",
        "--store",
        f"tenant={tenant}",
        "--store",
        f"pg_dsn={PG_DSN}",
        "--secret",
        "db_password=tenant-s3cret",
        "--store",
        f"fail_at={step}",
    )
    assert proc.returncode == 1, proc.stderr
    assert document["state"] == "REVERTED"
    assert tenant_host(cli, tenant) == before
