"""Role, database and grant tasks on a real PostgreSQL, through the revert kit."""

from __future__ import annotations

import psycopg
import pytest
from opsflow_postgres.tasks import (
    Database,
    DropDatabase,
    DropRole,
    Grant,
    PostgresTaskError,
    Role,
)
from pgcheck import pg_snapshot

from opsflow import engines
from opsflow.patterns import linear_flow
from opsflow.testing import check_reverts


def tenant_flow(name: str) -> linear_flow.Flow:
    flow = linear_flow.Flow("pg")
    flow.add(
        Role(name, name="role"),
        Database(name, name="database"),
        Grant(name, name, name="grant"),
    )
    return flow


def test_every_revert_drops_only_what_its_step_made_even_twice(dsn, name):
    store = {"pg_dsn": dsn, "db_password": "s3cr3t 'quoted'"}
    report = check_reverts(
        lambda: tenant_flow(name),
        lambda: pg_snapshot(dsn),
        store=store,
        revert_twice=True,
    )
    assert [o.step for o in report.outcomes] == ["role", "database", "grant"]


def test_the_role_logs_in_with_its_password_and_has_the_grants(dsn, name):
    store = {"pg_dsn": dsn, "db_password": "s3cr3t 'quoted'"}
    engines.run(tenant_flow(name), store=store)
    try:
        with psycopg.connect(dsn, autocommit=True) as connection:
            acl = connection.execute(
                "SELECT datacl::text FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()[0]
            can_login = connection.execute(
                "SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", (name,)
            ).fetchone()[0]
        assert f"{name}=CTc/" in acl
        assert can_login is True
    finally:
        engines.run(
            linear_flow.Flow("drop").add(
                DropDatabase(name, name="db"), DropRole(name, name="role")
            ),
            store=store,
        )
    assert pg_snapshot(dsn, name) == {"roles": frozenset(), "databases": frozenset()}


def test_an_existing_role_is_refused_and_never_dropped(dsn, name):
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{name}"')
    try:
        task = Role(name, password_from=None)
        with pytest.raises(PostgresTaskError, match="already exists"):
            task.execute(dsn=dsn)
        adopted = Role(name, password_from=None, exist_ok=True)
        result = adopted.execute(dsn=dsn)
        adopted.revert(dsn=dsn, result=result)
        assert pg_snapshot(dsn, name)["roles"] == {(name,)}
    finally:
        DropRole(name).execute(dsn=dsn)


def test_privileges_held_before_are_not_revoked(dsn, name):
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f'CREATE ROLE "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
        connection.execute(f'GRANT CONNECT ON DATABASE "{name}" TO "{name}"')
    try:
        task = Grant(name, name)
        result = task.execute(dsn=dsn)
        assert result["granted"] == ["CREATE", "TEMPORARY"]
        task.revert(dsn=dsn, result=result)
        [(_, acl)] = pg_snapshot(dsn, name)["databases"]
        assert f"{name}=c/" in acl
    finally:
        DropDatabase(name).execute(dsn=dsn)
        DropRole(name).execute(dsn=dsn)


def test_an_unreachable_server_is_one_clear_error():
    task = Database("x")
    with pytest.raises(PostgresTaskError, match="cannot connect to PostgreSQL"):
        task.execute(dsn="postgresql://nobody@127.0.0.1:1/none?connect_timeout=1")


def test_an_unknown_privilege_is_refused_when_the_flow_is_built():
    with pytest.raises(ValueError, match="not database privileges: DROP"):
        Grant("db", "role", privileges=["CONNECT", "DROP"])
