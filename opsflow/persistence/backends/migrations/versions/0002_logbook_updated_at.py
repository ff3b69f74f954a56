"""A logbook's ``updated_at`` is empty until a flow detail is added to it.

Restartable as it is: making a column nullable that already is changes
nothing, so a run of it killed before its version row was written (MySQL
and MariaDB commit the ALTER on its own) simply runs again.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _time() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True).with_variant(
        mysql.DATETIME(fsp=6), "mysql", "mariadb"
    )


def upgrade() -> None:
    with op.batch_alter_table("opsflow_logbooks") as batch:
        batch.alter_column(
            "updated_at", existing_type=_time(), existing_nullable=False, nullable=True
        )


def downgrade() -> None:
    op.execute(
        "UPDATE opsflow_logbooks SET updated_at = created_at WHERE updated_at IS NULL"
    )
    with op.batch_alter_table("opsflow_logbooks") as batch:
        batch.alter_column(
            "updated_at", existing_type=_time(), existing_nullable=True, nullable=False
        )
