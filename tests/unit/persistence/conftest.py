"""One contract suite, every backend: memory, SQLite, PostgreSQL, MariaDB.

PostgreSQL (127.0.0.1:5432, database ``test``) gives each test its own
schema and MariaDB (127.0.0.1:3306, root) its own database, dropped after.
When a service is down its tests skip with the reason, unless
``OPSFLOW_REQUIRE_SERVICES=1``, where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from opsflow.persistence import backends

PG_URL = os.environ.get("OPSFLOW_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("OPSFLOW_TEST_MYSQL", "mysql+pymysql://root@127.0.0.1:3306")

BACKENDS = ("memory", "dir", "sqlite", "postgresql", "mariadb")


def _unavailable(service: str, error: Exception) -> None:
    reason = f"{service} is not reachable: {type(error).__name__}: {error}"
    if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (OPSFLOW_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections use a fresh schema (dropped after the test)."""
    import sqlalchemy as sa

    from opsflow.persistence.backends.impl_sqlalchemy import make_url

    schema = f"opsflow_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(make_url(PG_URL))
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except Exception as exc:  # psycopg.OperationalError, ImportError...
        admin.dispose()
        _unavailable("PostgreSQL at 127.0.0.1:5432", exc)
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A URL of a fresh database (dropped after the test)."""
    import sqlalchemy as sa

    name = f"opsflow_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(MYSQL_URL + "/")
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f"CREATE DATABASE {name}"))
    except Exception as exc:
        admin.dispose()
        _unavailable("MariaDB at 127.0.0.1:3306", exc)
    try:
        yield f"{MYSQL_URL}/{name}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name}"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path) -> str:
    kind = request.param
    if kind == "memory":
        return "memory://"
    if kind == "dir":
        return f"dir://{tmp_path}/runs"
    if kind == "sqlite":
        return f"sqlite:///{tmp_path}/store/opsflow.sqlite"
    if kind == "postgresql":
        return request.getfixturevalue("postgres_url")
    return request.getfixturevalue("mariadb_url")


@pytest.fixture
def backend(backend_url: str):
    loaded = backends.fetch({"connection": backend_url})
    loaded.get_connection().upgrade()
    yield loaded
    loaded.close()


@pytest.fixture
def conn(backend):
    return backend.get_connection()
