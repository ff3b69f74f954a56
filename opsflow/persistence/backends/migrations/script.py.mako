"""${message}

Restartable: build the schema with ``create_table``/``create_index`` of
``migrations.restartable`` (or check what exists first), since MySQL and
MariaDB commit each DDL statement on its own.

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}
