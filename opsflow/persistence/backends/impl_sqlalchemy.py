"""SQL persistence through SQLAlchemy 2: SQLite, PostgreSQL, MySQL/MariaDB.

``sqlite:///path`` (the default store, a file under ``state_path``),
``postgresql://`` (psycopg 3) and ``mysql+pymysql://`` (PyMySQL) URLs all
land here. The schema is created and migrated by alembic
(``migrations/``); :meth:`SQLAlchemyConnection.upgrade` brings a store to
the current revision and is cheap when it is already there.

Every write is its own committed transaction, so what the engine saved
before moving on survives a SIGKILL. SQLite runs in WAL mode with
``synchronous=NORMAL`` by default: a killed process loses nothing, a power
cut may lose the last transactions but never corrupts the file
(``sqlite_synchronous = full`` in the backend's configuration, or
``?synchronous=FULL`` in the URL, syncs every commit). The SQLite file is
created 0600 in a 0700 directory. With ``read_only`` in the backend's
configuration a SQLite store is opened for reading only: nothing is
created, migrated or locked (``--history`` and ``--show`` of a store on a
read-only file system, or of someone else's).

Results, failures and metadata are JSON columns (``codec`` turns tuples,
``Failure`` objects and the like into tagged JSON), never truncated.
Only the columns that changed since this connection last wrote an atom
are sent again, so a progress update does not rewrite a 5 MB result.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from opsflow import exceptions, states
from opsflow.persistence import base, codec, models
from opsflow.persistence.backends.sql_leases import LeaseRows
from opsflow.persistence.backends.sql_schema import (
    MIGRATIONS,
    RESUME_COLUMNS,
    SCHEMA_REVISION,
    VERSION_TABLE,
    alembic_versions,
    atom_from_row,
    atom_row,
    atomdetails,
    book_from_row,
    error_text,
    flow_from_row,
    flowdetails,
    logbooks,
    make_url,
    metadata,
    prepare_sqlite_file,
    run_leases,
    text_or_none,
)
from opsflow.persistence.backends.sql_writers import (
    CoreWriter,
    CursorWriter,
    RowWriter,
    StatementCache,
    TransactionWriter,
)
from opsflow.persistence.leases import LeaseLost

__all__ = [
    "DRIVER_PACKAGES",
    "MIGRATIONS",
    "VERSION_TABLE",
    "SQLITE_SYNCHRONOUS",
    "SQLAlchemyBackend",
    "SQLAlchemyConnection",
    "make_url",
    "metadata",
]


class SQLAlchemyConnection(LeaseRows, base.Connection):
    """Reads and writes runs through one SQLAlchemy engine."""

    def __init__(self, backend: SQLAlchemyBackend) -> None:
        self._backend = backend
        self._engine = backend.engine
        # What was written is the backend's knowledge, not one connection's:
        # the engine's saver writes a run on another connection than the one
        # that saved its logbook, and every write goes through the backend.
        self._lock = backend.state_lock
        self._written = backend.written
        self._flow_meta = backend.flow_meta
        self._complete_flows = backend.complete_flows
        #: atom uuid -> (flow uuid, detail, columns) of writes held back.
        self._pending: dict[str, tuple[str, models.AtomDetail, dict[str, Any]]] = {}
        #: flow uuid -> when its ``updated_at`` was last written (monotonic).
        self._touched: dict[str, float] = {}
        #: ``(flow uuid, lease token)``: when set, every write first checks
        #: in its own transaction that the token still holds the run's lease
        #: (``leases.FencedBackend``), and raises ``LeaseLost`` otherwise.
        self.fence: tuple[str, str] | None = None

    def _write(self) -> _WriteTransaction:
        return self._backend.write(self.fence)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[sa.Connection]:
        try:
            with self._engine.begin() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as exc:
            raise exceptions.StorageFailure(
                f"persistence store {self._backend.safe_url}: {error_text(exc)}"
            ) from exc

    # -- schema --------------------------------------------------------------
    def upgrade(self) -> None:
        self._backend.upgrade()

    def validate(self) -> None:
        with self._begin() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- logbooks --------------------------------------------------------------
    def save_logbook(self, book: models.LogBook) -> models.LogBook:
        with self._lock, self._write() as rows:
            self._flush(rows)
            row = {
                "name": book.name,
                "meta": codec.encode(book.meta),
                "created_at": book.created_at,
                "updated_at": book.updated_at,
            }
            if not rows.update(logbooks, book.uuid, row):
                rows.insert(logbooks, [{"uuid": book.uuid, **row}])
            for flow_detail in book:
                self._save_flow(rows, book.uuid, flow_detail)
                self._save_atoms(rows, flow_detail.uuid, list(flow_detail))
        with self._lock:
            # Only now: the atoms above were each looked for before insertion.
            self._complete_flows.update(fd.uuid for fd in book)
        return book

    def _save_flow(
        self, rows: RowWriter, book_uuid: str, flow_detail: models.FlowDetail
    ) -> None:
        meta = codec.encode(flow_detail.meta)
        row = {
            "parent_uuid": book_uuid,
            "name": flow_detail.name,
            "state": text_or_none(flow_detail.state),
            "meta": meta,
            "created_at": flow_detail.created_at,
            "updated_at": models._now(),
        }
        if not rows.update(flowdetails, flow_detail.uuid, row):
            rows.insert(flowdetails, [{"uuid": flow_detail.uuid, **row}])
        self._flow_meta[flow_detail.uuid] = meta

    def get_logbook(self, book_uuid: str, lazy: bool = False) -> models.LogBook:
        self.flush()
        with self._begin() as conn:
            row = conn.execute(
                logbooks.select().where(logbooks.c.uuid == book_uuid)
            ).first()
            if row is None:
                raise exceptions.NotFound(f"No logbook found with uuid '{book_uuid}'")
            book = book_from_row(row)
            if not lazy:
                for flow_detail in self._flows(conn, [book_uuid], with_atoms=True):
                    book.add(flow_detail)
        return book

    def get_logbooks(self, lazy: bool = False) -> Iterator[models.LogBook]:
        self.flush()
        with self._begin() as conn:
            books = {
                row.uuid: book_from_row(row)
                for row in conn.execute(
                    logbooks.select().order_by(logbooks.c.created_at)
                )
            }
            if not lazy and books:
                for flow_detail, parent in self._flows_with_parent(
                    conn, list(books), with_atoms=True
                ):
                    books[parent].add(flow_detail)
        return iter(list(books.values()))

    def get_flows_for_book(
        self, book_uuid: str, lazy: bool = False
    ) -> Iterator[models.FlowDetail]:
        self.flush()
        with self._begin() as conn:
            exists = conn.execute(
                sa.select(logbooks.c.uuid).where(logbooks.c.uuid == book_uuid)
            ).first()
            if exists is None:
                raise exceptions.NotFound(f"No logbook found with uuid '{book_uuid}'")
            return iter(self._flows(conn, [book_uuid], with_atoms=not lazy))

    def get_flow_details(self, flow_uuid: str, lazy: bool = False) -> models.FlowDetail:
        self.flush()
        with self._begin() as conn:
            found = self._flows_with_parent(
                conn, None, with_atoms=not lazy, flow_uuid=flow_uuid
            )
        if not found:
            raise exceptions.NotFound(f"No flow detail found with uuid '{flow_uuid}'")
        return found[0][0]

    def get_many_flow_details(
        self, flow_uuids: Sequence[str]
    ) -> dict[str, models.FlowDetail]:
        if not flow_uuids:
            return {}
        self.flush()
        with self._begin() as conn:
            found = self._flows_with_parent(
                conn, None, with_atoms=True, flow_uuids=list(flow_uuids)
            )
        return {fd.uuid: fd for fd, _book in found}

    def get_atoms_for_flow(self, flow_uuid: str) -> Iterator[models.AtomDetail]:
        return iter(self.get_flow_details(flow_uuid))

    def get_atom_details(self, atom_uuid: str) -> models.AtomDetail:
        self.flush()
        with self._begin() as conn:
            row = conn.execute(
                atomdetails.select().where(atomdetails.c.uuid == atom_uuid)
            ).first()
        if row is None:
            raise exceptions.NotFound(f"No atom detail found with uuid '{atom_uuid}'")
        return atom_from_row(row)

    def get_logbook_of(self, flow_uuid: str) -> models.LogBook:
        self.flush()
        with self._begin() as conn:
            parent = conn.execute(
                sa.select(flowdetails.c.parent_uuid).where(
                    flowdetails.c.uuid == flow_uuid
                )
            ).scalar()
        if parent is None:
            raise exceptions.NotFound(f"No flow detail found with uuid '{flow_uuid}'")
        return self.get_logbook(parent)

    def list_flow_details(
        self, limit: int | None = None
    ) -> list[tuple[models.FlowDetail, str]]:
        """Flow details without atoms, most recently updated first, with book uuid."""
        self.flush()
        with self._begin() as conn:
            query = flowdetails.select().order_by(flowdetails.c.updated_at.desc())
            if limit:
                query = query.limit(limit)
            return [
                (flow_from_row(row), row.parent_uuid) for row in conn.execute(query)
            ]

    def _flows(
        self, conn: sa.Connection, book_uuids: list[str], with_atoms: bool
    ) -> list[models.FlowDetail]:
        return [fd for fd, _ in self._flows_with_parent(conn, book_uuids, with_atoms)]

    def _flows_with_parent(
        self,
        conn: sa.Connection,
        book_uuids: list[str] | None,
        with_atoms: bool,
        flow_uuid: str | None = None,
        flow_uuids: list[str] | None = None,
    ) -> list[tuple[models.FlowDetail, str]]:
        query = flowdetails.select().order_by(flowdetails.c.created_at)
        if flow_uuid is not None:
            query = query.where(flowdetails.c.uuid == flow_uuid)
        elif flow_uuids is not None:
            query = query.where(flowdetails.c.uuid.in_(flow_uuids))
        else:
            assert book_uuids is not None
            query = query.where(flowdetails.c.parent_uuid.in_(book_uuids))
        found = [(flow_from_row(row), row.parent_uuid) for row in conn.execute(query)]
        if with_atoms and found:
            by_uuid = {fd.uuid: fd for fd, _ in found}
            rows = conn.execute(
                atomdetails.select()
                .where(atomdetails.c.parent_uuid.in_(list(by_uuid)))
                .order_by(atomdetails.c.id)
            )
            for row in rows:
                by_uuid[row.parent_uuid].add(atom_from_row(row))
        return found

    # -- the engine's write path ----------------------------------------------
    def save_flow_detail(self, flow_detail: models.FlowDetail) -> None:
        meta = codec.encode(flow_detail.meta)
        row: dict[str, Any] = {
            "state": text_or_none(flow_detail.state),
            "updated_at": models._now(),
        }
        with self._lock:
            if self._flow_meta.get(flow_detail.uuid) != meta:
                row["meta"] = meta
            with self._write() as rows:
                self._flush(rows)
                done = rows.update(flowdetails, flow_detail.uuid, row)
            if not done:
                raise exceptions.NotFound(
                    f"Flow detail '{flow_detail.uuid}' is in no saved logbook"
                )
            self._flow_meta[flow_detail.uuid] = meta

    def update_flow_details(self, flow_detail: models.FlowDetail) -> models.FlowDetail:
        self.save_flow_detail(flow_detail)
        with self._lock, self._write() as rows:
            self._flush(rows)
            self._save_atoms(rows, flow_detail.uuid, list(flow_detail))
        return flow_detail

    def update_atom_details(self, atom_detail: models.AtomDetail) -> models.AtomDetail:
        columns = atom_row(atom_detail)
        with self._lock, self._write() as rows:
            self._flush(rows)
            done = rows.update(atomdetails, atom_detail.uuid, columns)
            if not done:
                raise exceptions.NotFound(
                    f"No atom detail found with uuid '{atom_detail.uuid}'"
                )
            self._written[atom_detail.uuid] = columns
        return atom_detail

    def save_atom_detail(
        self, flow_detail: models.FlowDetail, atom_detail: models.AtomDetail
    ) -> None:
        columns = atom_row(atom_detail)
        with self._lock:
            if not self._is_urgent(atom_detail, columns):
                # Not needed to resume: written with the next urgent write.
                self._pending[atom_detail.uuid] = (
                    flow_detail.uuid,
                    atom_detail,
                    columns,
                )
                return
            self._pending.pop(atom_detail.uuid, None)
            with self._write() as rows:
                self._flush(rows)
                self._save_atoms(rows, flow_detail.uuid, [(atom_detail, columns)])
                self._touch(rows, flow_detail.uuid)

    def _is_urgent(self, detail: models.AtomDetail, columns: dict[str, Any]) -> bool:
        """Whether a resume needs this write (anything but progress/meta).

        A new PENDING atom need not be stored at once (a resume creates the
        details it misses), nor a change of ``meta`` alone (progress,
        durations): both wait for the next write that matters, in whose
        transaction they go. A crash can lose them and nothing else.
        """
        written = self._written.get(detail.uuid)
        if written is None:
            return not (
                columns["state"] == states.PENDING
                and columns["intention"] == states.EXECUTE
                and columns["results"] is None
                and columns["failure"] is None
            )
        return any(written[k] != columns[k] for k in RESUME_COLUMNS)

    def _flush(self, rows: RowWriter) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        by_flow: dict[str, list[tuple[models.AtomDetail, dict[str, Any]]]] = {}
        for flow_uuid, detail, columns in pending.values():
            written = self._written.get(detail.uuid)
            if written is not None:
                # Held back as a change of meta alone: what another
                # connection wrote of the atom since is newer than the rest.
                columns = {**written, "meta": columns["meta"]}
            by_flow.setdefault(flow_uuid, []).append((detail, columns))
        for flow_uuid, atoms in by_flow.items():
            self._save_atoms(rows, flow_uuid, atoms)

    def flush(self) -> None:
        """Write what was held back (progress, new PENDING atoms) now."""
        with self._lock:
            if self._pending:
                with self._write() as rows:
                    self._flush(rows)

    def _touch(self, rows: RowWriter, flow_uuid: str) -> None:
        # ``updated_at`` says when the run last did anything (--history);
        # to the second is enough, so it is not rewritten on every step.
        now = time.monotonic()
        if now - self._touched.get(flow_uuid, -1.0) >= 1.0:
            self._touched[flow_uuid] = now
            rows.update(flowdetails, flow_uuid, {"updated_at": models._now()})

    def _save_atoms(
        self,
        rows: RowWriter,
        flow_uuid: str,
        atoms: list[models.AtomDetail] | list[tuple[models.AtomDetail, dict[str, Any]]],
    ) -> None:
        """Write each atom: the columns that changed of those this backend
        wrote, the whole row of the others (new rows in one insert)."""
        complete = flow_uuid in self._complete_flows
        new: list[dict[str, Any]] = []
        for atom in atoms:
            if isinstance(atom, tuple):
                atom_detail, columns = atom
            else:
                atom_detail, columns = atom, atom_row(atom)
            written = self._written.get(atom_detail.uuid)
            if written is not None:
                changed = {k: v for k, v in columns.items() if written.get(k) != v}
                if changed:
                    rows.update(atomdetails, atom_detail.uuid, changed)
            elif complete or not rows.update(atomdetails, atom_detail.uuid, columns):
                # Not stored (this backend stored every atom of the flow it
                # knows of), or looked for and not found.
                new.append(
                    {
                        "uuid": atom_detail.uuid,
                        "parent_uuid": flow_uuid,
                        "name": atom_detail.name,
                        "kind": atom_detail.kind,
                        **columns,
                    }
                )
            self._written[atom_detail.uuid] = columns
        rows.insert(atomdetails, new)

    # -- deleting ----------------------------------------------------------------
    def destroy_logbook(self, book_uuid: str) -> None:
        with self._lock, self._begin() as conn:
            flows = sa.select(flowdetails.c.uuid).where(
                flowdetails.c.parent_uuid == book_uuid
            )
            conn.execute(
                atomdetails.delete().where(atomdetails.c.parent_uuid.in_(flows))
            )
            conn.execute(
                flowdetails.delete().where(flowdetails.c.parent_uuid == book_uuid)
            )
            done = conn.execute(
                logbooks.delete().where(logbooks.c.uuid == book_uuid)
            ).rowcount
            if not done:
                raise exceptions.NotFound(f"No logbook found with uuid '{book_uuid}'")
            self._written.clear()
            self._pending.clear()

    def close(self) -> None:
        """Write what was held back."""
        self.flush()

    def clear_all(self) -> None:
        with self._lock, self._begin() as conn:
            self._pending.clear()
            for table in (atomdetails, flowdetails, logbooks, run_leases):
                conn.execute(table.delete())
            self._written.clear()
            self._flow_meta.clear()
            self._complete_flows.clear()


#: Python package (distribution name) and opsflow extra of each database driver.
DRIVER_PACKAGES = {
    "psycopg": ("psycopg", "postgresql"),
    "pymysql": ("PyMySQL", "mysql"),
}


#: SQLite's ``synchronous`` settings a store may use (WAL mode): NORMAL
#: syncs at checkpoints only, FULL at every commit as well.
SQLITE_SYNCHRONOUS = ("NORMAL", "FULL")


class SQLAlchemyBackend(base.Backend):
    """A SQL store reached through one SQLAlchemy engine (and its pool)."""

    def __init__(self, conf: Mapping[str, Any] | str) -> None:
        if isinstance(conf, str):
            conf = {"connection": conf}
        super().__init__(conf)
        self.url = make_url(self._conf["connection"])
        self.safe_url = self.url.render_as_string(hide_password=True)
        self.check_available(self._conf)
        self._sqlite = self.url.get_backend_name() == "sqlite"
        synchronous = "NORMAL"
        if self._sqlite:
            synchronous = self._sqlite_synchronous()
        self.engine = self._create_engine(synchronous)
        #: Every write of every connection goes through this one held
        #: connection, one transaction at a time (a checkout per write
        #: would cost about a third more on SQLite).
        self._write_lock = threading.RLock()
        self._held: sa.Connection | None = None
        self._held_raw: Any = None
        self._writer: TransactionWriter | None = None
        self._statements = StatementCache(self.engine.dialect)
        self._db_errors: tuple[type[Exception], ...] = (
            sa.exc.SQLAlchemyError,
            self.engine.dialect.loaded_dbapi.Error,
        )
        #: Held by a connection while it reads or changes what follows.
        self.state_lock = threading.RLock()
        #: atom uuid -> the encoded columns last written through this backend.
        self.written: dict[str, dict[str, Any]] = {}
        #: flow uuid -> the encoded meta last written through this backend.
        self.flow_meta: dict[str, Any] = {}
        #: flows whose every stored atom this backend wrote (saved them
        #: whole): an atom of theirs not in ``written`` is new, simply inserted.
        self.complete_flows: set[str] = set()
        self._upgraded = False
        self._upgrade_lock = threading.Lock()

    def _sqlite_synchronous(self) -> str:
        """The URL's ``?synchronous=`` (taken out of the URL), else the
        configuration's ``sqlite_synchronous``, else NORMAL."""
        query = dict(self.url.query)
        asked = query.pop("synchronous", None)
        if not isinstance(asked, str | None):  # ?synchronous=A&synchronous=B
            asked = asked[-1]
        self.url = self.url.set(query=query)
        synchronous = str(asked or self._conf.get("sqlite_synchronous") or "normal")
        if synchronous.upper() not in SQLITE_SYNCHRONOUS:
            raise exceptions.ConfigurationError(
                f"persistence store {self.safe_url}: synchronous={synchronous} "
                f"is not one of {', '.join(s.lower() for s in SQLITE_SYNCHRONOUS)}"
            )
        return synchronous.upper()

    @classmethod
    def check_available(cls, conf: Mapping[str, Any] | str) -> None:
        """Import the URL's database driver (``MissingPackage`` if absent)."""
        connection = conf if isinstance(conf, str) else conf["connection"]
        url = make_url(connection)
        try:
            url.get_dialect().import_dbapi()
        except ImportError as exc:
            module = (exc.name or url.get_driver_name()).split(".", 1)[0]
            package, extra = DRIVER_PACKAGES.get(module, (module, None))
            raise exceptions.MissingPackage(
                f"the persistence store {url.render_as_string(hide_password=True)}",
                package,
                extra,
            ) from exc

    def _create_engine(self, synchronous: str) -> sa.Engine:
        if not self._sqlite:
            return sa.create_engine(self.url, pool_pre_ping=True)
        path = self.url.database
        if self._conf.get("read_only") and path and path != ":memory:":
            return _read_only_sqlite(path)
        if path and path != ":memory:":
            prepare_sqlite_file(path)
        engine = sa.create_engine(self.url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous.upper()}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # pysqlite's own transaction handling is off (isolation_level
            # None): take the write lock at BEGIN so two writers queue on
            # the busy timeout instead of failing half-way (and DDL is
            # transactional too).
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def get_connection(self) -> SQLAlchemyConnection:
        return SQLAlchemyConnection(self)

    def write(self, fence: tuple[str, str] | None = None) -> _WriteTransaction:
        """``with backend.write() as rows``: a write transaction on the
        backend's held connection, committed at the end of the block.

        ``fence``, ``(flow uuid, lease token)``: the transaction first checks
        that the token still holds the run's lease (``LeaseLost`` if not).
        """
        return _WriteTransaction(self, fence)

    def _begin_write(self) -> TransactionWriter:
        writer = self._writer
        if writer is None:
            if self._sqlite:
                self._held_raw = self.engine.raw_connection()
                cursor = self._held_raw.driver_connection.cursor()
                writer = CursorWriter(cursor, self._statements)
            else:
                self._held = self.engine.connect()
                writer = CoreWriter(self._held)
            self._writer = writer
        writer.begin()
        return writer

    def _forget_written(self) -> None:
        # Only ever called by a writer, which holds ``state_lock`` already.
        self.written.clear()
        self.flow_meta.clear()
        self.complete_flows.clear()

    def _forget_held(self) -> None:
        """Close the held connection (it may be broken): the next write
        opens anew, and looks for its rows before writing them."""
        self._forget_written()
        self._drop_held(broken=True)

    def _drop_held(self, broken: bool) -> None:
        """Let go of the held connection: a ``broken`` one is invalidated
        (never back in the pool), a sound one closed."""
        self._writer = None
        held, self._held = self._held, None
        raw, self._held_raw = self._held_raw, None
        with contextlib.suppress(Exception):
            if held is not None:
                held.close()
            if raw is not None:
                if broken:
                    raw.invalidate()
                else:
                    raw.close()

    def upgrade(self) -> None:
        """Bring the schema to the latest alembic revision (once per backend).

        A store already there is recognised by one read of its version
        table, without importing alembic (about a tenth of a second of
        start-up for every ``opsflow-run``).
        """
        with self._upgrade_lock:
            if self._upgraded:
                return
            if self._schema_is_current():
                self._upgraded = True
                return
            # alembic logs its plugin set-up at INFO as it is imported: noise
            # in an operator's run log. What it migrates is still logged.
            logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
            from alembic import command
            from alembic.config import Config
            from alembic.runtime.migration import MigrationContext
            from alembic.script import ScriptDirectory

            config = Config()
            config.set_main_option("script_location", MIGRATIONS)
            head = ScriptDirectory.from_config(config).get_current_head()
            for attempt in range(3):
                try:
                    with self.engine.begin() as conn:
                        with _quiet(logging.getLogger("alembic.runtime.migration")):
                            context = MigrationContext.configure(
                                conn, opts={"version_table": VERSION_TABLE}
                            )
                            current = context.get_current_revision()
                        if current != head:
                            config.attributes["connection"] = conn
                            command.upgrade(config, "head")
                    break
                except sa.exc.SQLAlchemyError as exc:
                    # Another process may have been creating the schema at
                    # the same time: look again before giving up.
                    if attempt == 2:
                        raise exceptions.StorageFailure(
                            f"cannot upgrade its schema: {error_text(exc)}"
                        ) from exc
                    time.sleep(0.2 * (attempt + 1))
            self._upgraded = True

    def _schema_is_current(self) -> bool:
        try:
            with self.engine.connect() as conn:
                found = (
                    conn.execute(sa.select(alembic_versions.c.version_num))
                    .scalars()
                    .all()
                )
        except sa.exc.SQLAlchemyError:
            return False  # no version table yet: alembic creates it
        return found == [SCHEMA_REVISION]

    def close(self) -> None:
        with self._write_lock:
            self._drop_held(broken=False)
        self.engine.dispose()


class _WriteTransaction:
    """One write transaction of a backend (see :meth:`SQLAlchemyBackend.write`).

    A class rather than a generator-based context manager: the engine opens
    two of these per task.
    """

    __slots__ = ("_backend", "_fence", "_rows")

    def __init__(
        self, backend: SQLAlchemyBackend, fence: tuple[str, str] | None
    ) -> None:
        self._backend = backend
        self._fence = fence
        self._rows: TransactionWriter | None = None

    def __enter__(self) -> RowWriter:
        backend = self._backend
        backend._write_lock.acquire()
        try:
            self._rows = rows = backend._begin_write()
            if self._fence is not None:
                _check_fence(rows, *self._fence)
        except BaseException as exc:
            self.__exit__(type(exc), exc, None)
            raise
        return rows

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, _tb: Any
    ) -> None:
        backend = self._backend
        rows, self._rows = self._rows, None
        try:
            if error is None:
                assert rows is not None
                rows.commit()
                return
            if rows is not None:
                with contextlib.suppress(Exception):
                    rows.rollback()
            # Rolled back: what was noted as written in it was not.
            backend._forget_written()
            if isinstance(error, backend._db_errors):
                backend._forget_held()
                raise exceptions.StorageFailure(
                    f"persistence store {backend.safe_url}: {error_text(error)}"
                ) from error
        except backend._db_errors as exc:  # the commit itself failed
            if rows is not None:
                with contextlib.suppress(Exception):
                    rows.rollback()
            backend._forget_held()
            raise exceptions.StorageFailure(
                f"persistence store {backend.safe_url}: {error_text(exc)}"
            ) from exc
        finally:
            backend._write_lock.release()


def _check_fence(rows: RowWriter, flow_uuid: str, token: str) -> None:
    held = rows.lease_token(flow_uuid)
    if held != token:
        raise LeaseLost(
            f"run {flow_uuid}: lease token {token} no longer holds the run "
            f"({'taken over' if held else 'released'}); this process stops "
            "writing, the new owner is in charge"
        )


def _read_only_sqlite(path: str) -> sa.Engine:
    """An engine that only reads the SQLite file ``path`` (nothing created).

    A store in WAL mode needs its ``-shm`` file even to be read; where
    there is none and none can be made (a read-only directory or file
    system), no process can be writing to it either, so it is read as an
    immutable file.
    """
    import urllib.parse

    directory = os.path.dirname(os.path.abspath(path))
    immutable = not os.path.exists(path + "-wal") and not os.access(directory, os.W_OK)
    query = {"mode": "ro", "uri": "true", **({"immutable": "1"} if immutable else {})}
    url = sa.URL.create(
        "sqlite",
        database="file:" + urllib.parse.quote(os.path.abspath(path)),
        query=query,
    )
    engine = sa.create_engine(url, connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


@contextlib.contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Hold ``logger`` to warnings: looking at the schema version is no news."""
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
