"""The statements of one write transaction of the SQL store.

The engine writes a few small rows per task, each in a transaction of its
own so that a killed process loses nothing it moved on from. Through
SQLAlchemy Core such a transaction costs about ten times what the
database does, so on SQLite (where the database itself costs little) the
rows go straight to the DB-API cursor: :class:`CursorWriter`, whose SQL
and value conversions are still SQLAlchemy's own (compiled once per set of
columns, the column types' bind processors), so what it stores is exactly
what :class:`CoreWriter` would. Other databases, whose round trips dwarf
that cost, keep :class:`CoreWriter`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from opsflow.persistence.backends.sql_schema import run_leases

__all__ = ["CoreWriter", "CursorWriter", "RowWriter", "TransactionWriter"]


class RowWriter(Protocol):
    """Writes rows (keyed by their ``uuid`` column) in an open transaction."""

    def update(self, table: sa.Table, uuid: str, columns: Mapping[str, Any]) -> int:
        """Set ``columns`` of the row ``uuid``; how many rows matched."""

    def insert(self, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (all with the same columns)."""

    def lease_token(self, flow_uuid: str) -> str | None:
        """The token of the run's lease, held until the commit (no claim
        can replace it in between)."""


class TransactionWriter(RowWriter, Protocol):
    """A :class:`RowWriter` on one held connection, and its transactions."""

    def begin(self) -> None: ...

    def commit(self) -> None: ...

    def rollback(self) -> None: ...


class CoreWriter:
    """Rows through a SQLAlchemy connection (any database)."""

    def __init__(self, conn: sa.Connection) -> None:
        self._conn = conn
        self._transaction: sa.RootTransaction | None = None

    def begin(self) -> None:
        self._transaction = self._conn.begin()

    def commit(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            transaction.commit()

    def rollback(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            transaction.rollback()

    def update(self, table: sa.Table, uuid: str, columns: Mapping[str, Any]) -> int:
        return self._conn.execute(
            table.update().where(table.c.uuid == uuid), dict(columns)
        ).rowcount

    def insert(self, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self._conn.execute(table.insert(), [dict(row) for row in rows])

    def lease_token(self, flow_uuid: str) -> str | None:
        # FOR SHARE: a claim (an UPDATE of this row) waits for this write's
        # commit, and this write waits for a claim's, so no write of an old
        # owner lands after a new owner took the run.
        token: str | None = self._conn.execute(
            sa.select(run_leases.c.token)
            .where(run_leases.c.flow_uuid == flow_uuid)
            .with_for_update(read=True)
        ).scalar()
        return token


_Converter = Callable[[Any], Any] | None
#: A compiled statement: its SQL, then each parameter's name and converter
#: in the order the SQL takes them.
_Compiled = tuple[str, list[tuple[str, _Converter]]]


class StatementCache:
    """SQL text and value converters per (table, columns), for one dialect."""

    def __init__(self, dialect: sa.Dialect) -> None:
        self._dialect = dialect
        self._compiled: dict[tuple[str, str, tuple[str, ...]], _Compiled] = {}
        self.lease_select = self._compile(
            run_leases,
            sa.select(run_leases.c.token).where(
                run_leases.c.flow_uuid == sa.bindparam("flow_uuid")
            ),
        )

    def _compile(self, table: sa.Table, statement: sa.ClauseElement) -> _Compiled:
        dialect = self._dialect
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        order: list[tuple[str, _Converter]] = []
        for name in compiled.positiontup or ():
            column = table.c[name.lstrip("_")]
            convert: _Converter = column.type.dialect_impl(dialect).bind_processor(
                dialect
            )
            if convert is not None and isinstance(column.type, sa.JSON):
                convert = _null_first(convert)
            order.append((name, convert))
        return str(compiled), order

    def update(self, table: sa.Table, names: tuple[str, ...]) -> _Compiled:
        key = ("update", table.name, names)
        found = self._compiled.get(key)
        if found is None:
            statement = (
                table.update()
                .where(table.c.uuid == sa.bindparam("_uuid"))
                .values({name: sa.bindparam(name) for name in names})
            )
            found = self._compiled[key] = self._compile(table, statement)
        return found

    def insert(self, table: sa.Table, names: tuple[str, ...]) -> _Compiled:
        key = ("insert", table.name, names)
        found = self._compiled.get(key)
        if found is None:
            statement = table.insert().values(
                {name: sa.bindparam(name) for name in names}
            )
            found = self._compiled[key] = self._compile(table, statement)
        return found


def _null_first(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``convert`` (a JSON column's), with None turned into JSON's ``null``
    at once: most atom columns are None, and the column would store that
    same text (it does not store None as SQL NULL)."""
    stored_none = convert(None)

    def converted(value: Any) -> Any:
        return stored_none if value is None else convert(value)

    return converted


def _arguments(
    order: list[tuple[str, _Converter]], values: Mapping[str, Any]
) -> list[Any]:
    return [
        values[name] if convert is None else convert(values[name])
        for name, convert in order
    ]


class CursorWriter:
    """Rows through a DB-API cursor whose paramstyle is ``qmark`` (SQLite)."""

    def __init__(self, cursor: Any, statements: StatementCache) -> None:
        self._cursor = cursor
        self._statements = statements

    def begin(self) -> None:
        # The driver's own transaction (SQLAlchemy's "begin" event does not
        # run here), begun IMMEDIATE: it takes the write lock at once, so two
        # writers queue on the busy timeout instead of failing half-way.
        self._cursor.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self._cursor.execute("COMMIT")

    def rollback(self) -> None:
        self._cursor.execute("ROLLBACK")

    def update(self, table: sa.Table, uuid: str, columns: Mapping[str, Any]) -> int:
        sql, order = self._statements.update(table, tuple(columns))
        self._cursor.execute(sql, _arguments(order, {**columns, "_uuid": uuid}))
        rowcount: int = self._cursor.rowcount
        return rowcount

    def insert(self, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        sql, order = self._statements.insert(table, tuple(rows[0]))
        self._cursor.executemany(sql, [_arguments(order, row) for row in rows])

    def lease_token(self, flow_uuid: str) -> str | None:
        # The transaction began IMMEDIATE: it holds the database's write
        # lock, so no claim can change the lease before this commit.
        sql, _order = self._statements.lease_select
        row = self._cursor.execute(sql, (flow_uuid,)).fetchone()
        return None if row is None else str(row[0])
