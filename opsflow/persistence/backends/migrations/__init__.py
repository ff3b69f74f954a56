"""Alembic migrations of the SQL schema (``impl_sqlalchemy``)."""
