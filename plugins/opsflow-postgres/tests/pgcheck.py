"""What these tests look at in PostgreSQL, read with plain SQL."""

from __future__ import annotations

import psycopg


def pg_snapshot(dsn: str, prefix: str = "opsflow_t_") -> dict:
    """Roles and databases named ``prefix...`` and the ACLs of those databases."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        roles = connection.execute(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE %s", (prefix + "%",)
        ).fetchall()
        databases = connection.execute(
            "SELECT datname, datacl::text FROM pg_database WHERE datname LIKE %s",
            (prefix + "%",),
        ).fetchall()
    return {"roles": frozenset(roles), "databases": frozenset(databases)}
