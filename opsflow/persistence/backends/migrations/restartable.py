"""Schema steps a migration can run again after being killed half-way.

MySQL and MariaDB commit every ``CREATE TABLE`` and ``CREATE INDEX`` on its
own: a migration killed half-way leaves some tables and no version row, and
running it again from the start must not fail on what is already there.
(SQLite and PostgreSQL roll the whole migration back instead.) Every
migration builds its schema with these, which create only what is missing.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

__all__ = ["create_index", "create_table"]


def create_table(name: str, *columns: sa.Column) -> None:
    """``op.create_table(name, *columns)`` unless the table exists."""
    if not sa.inspect(op.get_bind()).has_table(name):
        op.create_table(name, *columns)


def create_index(name: str, table: str, columns: Sequence[str]) -> None:
    """``op.create_index(name, table, columns)`` unless the index exists."""
    existing = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes(table)}
    if name not in existing:
        op.create_index(name, table, list(columns))
