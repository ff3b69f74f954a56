"""The SQL store's schema, and the mapping between its rows and records.

The tables here are kept equal to the latest alembic migration
(``migrations/``); a unit test compares them.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from opsflow.persistence import codec, models
from opsflow.persistence.leases import Lease

MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")
VERSION_TABLE = "opsflow_alembic_version"
#: The latest migration's revision (a unit test checks it is alembic's head).
SCHEMA_REVISION = "0002"

_json = sa.JSON().with_variant(mysql.JSON(), "mysql", "mariadb")
_time = sa.DateTime(timezone=True).with_variant(
    mysql.DATETIME(fsp=6), "mysql", "mariadb"
)
metadata = sa.MetaData()
logbooks = sa.Table(
    "opsflow_logbooks",
    metadata,
    sa.Column("uuid", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("meta", _json),
    sa.Column("created_at", _time, nullable=False),
    sa.Column("updated_at", _time),
)
flowdetails = sa.Table(
    "opsflow_flowdetails",
    metadata,
    sa.Column("uuid", sa.String(64), primary_key=True),
    sa.Column(
        "parent_uuid",
        sa.String(64),
        sa.ForeignKey("opsflow_logbooks.uuid", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("state", sa.String(32)),
    sa.Column("meta", _json),
    sa.Column("created_at", _time, nullable=False),
    sa.Column("updated_at", _time, nullable=False, index=True),
)
atomdetails = sa.Table(
    "opsflow_atomdetails",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(64), nullable=False, unique=True),
    sa.Column(
        "parent_uuid",
        sa.String(64),
        sa.ForeignKey("opsflow_flowdetails.uuid", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(32)),
    sa.Column("intention", sa.String(32)),
    sa.Column("results", _json),
    sa.Column("failure", _json),
    sa.Column("revert_results", _json),
    sa.Column("revert_failure", _json),
    sa.Column("meta", _json),
    sa.Column("version", _json),
)
run_leases = sa.Table(
    "opsflow_run_leases",
    metadata,
    sa.Column("flow_uuid", sa.String(64), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("proc_start", sa.String(32), nullable=False),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("heartbeat_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
)

#: alembic's version table, read to tell a current schema without alembic
#: (not part of ``metadata``: alembic makes and owns it).
alembic_versions = sa.Table(
    VERSION_TABLE,
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
)

ATOM_COLUMNS = (
    "state",
    "intention",
    "results",
    "failure",
    "revert_results",
    "revert_failure",
    "meta",
    "version",
)
#: What a resume needs: a change in any of these is written at once.
RESUME_COLUMNS = tuple(c for c in ATOM_COLUMNS if c != "meta")
KINDS: dict[str, type[models.AtomDetail]] = {
    "task": models.TaskDetail,
    "retry": models.RetryDetail,
    "atom": models.AtomDetail,
}

#: Default drivers for bare schemes (SQLAlchemy's own default is psycopg2).
DRIVERS = {"postgresql": "postgresql+psycopg", "mysql": "mysql+pymysql"}
DRIVERS["mariadb"] = "mariadb+pymysql"


def make_url(connection: str) -> sa.URL:
    """The SQLAlchemy URL for an opsflow connection string.

    ``postgresql://`` uses psycopg 3 and ``mysql://`` PyMySQL unless a driver
    is named; ``~`` in a SQLite path is the user's home.
    """
    url = sa.make_url(connection)
    if url.drivername in DRIVERS:
        url = url.set(drivername=DRIVERS[url.drivername])
    if url.get_backend_name() == "sqlite" and url.database:
        url = url.set(database=os.path.expanduser(url.database))
    return url


def prepare_sqlite_file(path: str) -> None:
    """Create the SQLite file 0600, and each missing directory above it 0700
    (the store holds run data)."""
    from opsflow.privatefiles import open_private

    if not os.path.exists(path):
        os.close(open_private(path))


def aware(value: datetime.datetime | None) -> datetime.datetime:
    if value is None:
        return models._now()
    if value.tzinfo is None:
        return value.replace(tzinfo=datetime.UTC)
    return value


def error_text(exc: BaseException) -> str:
    """A SQLAlchemy error in one line: the driver's exception and the first
    line of its message, without the statement or its parameters (which
    carry run data, results included)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def lease_row(lease: Lease) -> dict[str, Any]:
    return {
        "flow_uuid": lease.flow_uuid,
        "host": lease.host,
        "pid": lease.pid,
        "proc_start": lease.proc_start,
        "token": lease.token,
        "heartbeat_at": lease.heartbeat_at,
        "expires_at": lease.expires_at,
    }


def atom_row(detail: models.AtomDetail) -> dict[str, Any]:
    return {
        "state": text_or_none(detail.state),
        "intention": text_or_none(detail.intention),
        "results": codec.encode(detail.results),
        "failure": codec.encode(detail.failure),
        "revert_results": codec.encode(detail.revert_results),
        "revert_failure": codec.encode(detail.revert_failure),
        "meta": codec.encode(detail.meta),
        "version": detail.version,
    }


def book_from_row(row: Any) -> models.LogBook:
    return models.LogBook(
        name=row.name,
        uuid=row.uuid,
        meta=codec.decode(row.meta) or {},
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at) if row.updated_at is not None else None,
    )


def flow_from_row(row: Any) -> models.FlowDetail:
    return models.FlowDetail(
        name=row.name,
        uuid=row.uuid,
        state=row.state,
        meta=codec.decode(row.meta) or {},
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


def atom_from_row(row: Any) -> models.AtomDetail:
    kind = KINDS.get(row.kind, models.AtomDetail)
    detail = kind(
        name=row.name,
        uuid=row.uuid,
        state=row.state,
        intention=row.intention,
        results=codec.decode(row.results),
        failure=codec.decode(row.failure),
        revert_results=codec.decode(row.revert_results),
        revert_failure=codec.decode(row.revert_failure),
        meta=codec.decode(row.meta) or {},
        version=row.version,
    )
    if isinstance(detail, models.RetryDetail):
        # History entries are (result, {atom: Failure}) pairs.
        detail.results = [tuple(entry) for entry in detail.results or []]
    return detail
