"""Fresh databases on the local services for the functional tests.

PostgreSQL (127.0.0.1:5432, database ``test``) gives a test its own schema
and MariaDB (127.0.0.1:3306, root) its own database, dropped afterwards.
When a service is down the test skips with the reason, unless
``OPSFLOW_REQUIRE_SERVICES=1``, where it fails.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator

import pytest

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
MARIADB_URL = "mysql://root@127.0.0.1:3306"


def unavailable(reason: str) -> None:
    """Skip the test for a missing service (fail when services are required)."""
    if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (OPSFLOW_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


@contextlib.contextmanager
def mariadb_database() -> Iterator[str]:
    """The URL of a new, empty MariaDB database (dropped after)."""
    import pymysql

    name = f"opsflow_ft_{uuid.uuid4().hex[:10]}"
    try:
        admin = pymysql.connect(
            host="127.0.0.1", port=3306, user="root", connect_timeout=3
        )
    except pymysql.Error as exc:
        unavailable(f"MariaDB not reachable at 127.0.0.1:3306: {exc}")
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        yield f"{MARIADB_URL}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.close()


@contextlib.contextmanager
def postgres_schema() -> Iterator[tuple[str, str]]:
    """``(schema, URL using it)`` of a new PostgreSQL schema (dropped after)."""
    import psycopg

    name = f"opsflow_ft_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(PG_URL, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL not reachable at 127.0.0.1:5432: {exc}")
    with admin:
        admin.execute(f"CREATE SCHEMA {name}")
        try:
            yield name, f"{PG_URL}?options=-csearch_path%3D{name}"
        finally:
            admin.execute(f"DROP SCHEMA {name} CASCADE")


def mariadb_tables(url: str) -> dict[str, list[str]]:
    """``{table: [index names]}`` of the database of ``url``, and the
    version row (key ``version``)."""
    import pymysql

    database = url.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", database=database)
    with conn, conn.cursor() as cursor:
        cursor.execute("SHOW TABLES")
        tables: dict[str, list[str]] = {}
        for (table,) in cursor.fetchall():
            cursor.execute(f"SHOW INDEX FROM {table}")
            tables[table] = sorted({row[2] for row in cursor.fetchall()})
        if "opsflow_alembic_version" in tables:
            cursor.execute("SELECT version_num FROM opsflow_alembic_version")
            tables["version"] = [row[0] for row in cursor.fetchall()]
    return tables
