"""Alembic environment: always given a live connection by the backend.

``impl_sqlalchemy.SQLAlchemyConnection.upgrade`` (and ``opsflow-manage db
upgrade``) pass their connection in ``config.attributes["connection"]``;
there is no ``alembic.ini`` and no URL here.
"""

from __future__ import annotations

from alembic import context

VERSION_TABLE = "opsflow_alembic_version"

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
