"""provision-tenant through the revert kit: root, PostgreSQL and opsflow-postgres.

Every step's failure is checked with the namespaces and links (read with
``ip``), the tenant's database and role, HTTP server processes, listening
ports and files, all compared with before the run.
"""

from __future__ import annotations

import os

import pytest
from hostcheck import network_snapshot, require_root, unique_tenant
from opsflow_linux.tenant import provision_tenant, tenant_names

from opsflow.testing import check_reverts, snapshots

DSN = os.environ.get("OPSFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def require_postgres() -> None:
    try:
        import opsflow_postgres  # noqa: F401 - the flow loads its tasks by name
        import psycopg

        psycopg.connect(DSN, connect_timeout=3).close()
    except Exception as exc:
        reason = f"needs opsflow-postgres and PostgreSQL at {DSN}: {exc}"
        if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{reason} (OPSFLOW_REQUIRE_SERVICES=1)")
        pytest.skip(reason)


def pg_objects(name: str) -> dict:
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as connection:
        return {
            table: connection.execute(
                f"SELECT {column} FROM {table} WHERE {column} = %s", (name,)
            ).fetchall()
            for table, column in (("pg_roles", "rolname"), ("pg_database", "datname"))
        }


def test_provision_tenant_leaves_nothing_after_a_failure_after_any_step(tmp_path):
    require_root()
    require_postgres()
    tenant = unique_tenant()
    names = tenant_names(tenant, subnet="10.252.0.0/30", port=18080)

    def make():
        return provision_tenant(
            tenant,
            subnet="10.252.0.0/30",
            port=18080,
            pg_dsn=DSN,
            workdir=str(tmp_path / "tenant"),
            inventory=str(tmp_path / "inventory.jsonl"),
        )

    def snapshot():
        return {
            "network": network_snapshot(),
            "postgres": pg_objects(names["database"]),
            "processes": snapshots.processes(cwd_under=str(tmp_path)),
            "files": snapshots.files(str(tmp_path)),
        }

    report = check_reverts(
        make,
        snapshot,
        store={"pg_dsn": DSN, "db_password": "tenant-secret"},
        revert_twice=True,
    )
    assert len(report.outcomes) == 16
    assert all(outcome.state == "REVERTED" for outcome in report.outcomes)
