"""Initial schema: logbooks, flow details, atom details and run leases.

Restartable: each table and index is created only if it is missing, so a
first migration killed half-way on MySQL/MariaDB (where DDL is committed
statement by statement) completes when it runs again.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from opsflow.persistence.backends.migrations.restartable import (
    create_index,
    create_table,
)

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(mysql.JSON(), "mysql", "mariadb")


def _time() -> sa.types.TypeEngine:
    # MySQL DATETIME keeps whole seconds unless asked for microseconds.
    return sa.DateTime(timezone=True).with_variant(
        mysql.DATETIME(fsp=6), "mysql", "mariadb"
    )


def upgrade() -> None:
    create_table(
        "opsflow_logbooks",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("meta", _json()),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
    )
    create_table(
        "opsflow_flowdetails",
        sa.Column("uuid", sa.String(64), primary_key=True),
        sa.Column(
            "parent_uuid",
            sa.String(64),
            sa.ForeignKey("opsflow_logbooks.uuid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("state", sa.String(32)),
        sa.Column("meta", _json()),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
    )
    create_index(
        "ix_opsflow_flowdetails_parent_uuid", "opsflow_flowdetails", ["parent_uuid"]
    )
    create_index(
        "ix_opsflow_flowdetails_updated_at", "opsflow_flowdetails", ["updated_at"]
    )
    create_table(
        "opsflow_atomdetails",
        # The surrogate key keeps atoms in the order they were added.
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "parent_uuid",
            sa.String(64),
            sa.ForeignKey("opsflow_flowdetails.uuid", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(32)),
        sa.Column("intention", sa.String(32)),
        sa.Column("results", _json()),
        sa.Column("failure", _json()),
        sa.Column("revert_results", _json()),
        sa.Column("revert_failure", _json()),
        sa.Column("meta", _json()),
        sa.Column("version", _json()),
    )
    create_index(
        "ix_opsflow_atomdetails_parent_uuid", "opsflow_atomdetails", ["parent_uuid"]
    )
    create_table(
        "opsflow_run_leases",
        sa.Column("flow_uuid", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("proc_start", sa.String(32), nullable=False),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("heartbeat_at", sa.Double, nullable=False),
        sa.Column("expires_at", sa.Double, nullable=False),
    )
