"""The SQL backend's own promises: URLs, the SQLite file, the migrations."""

from __future__ import annotations

import datetime
import os
import stat

import pytest
import sqlalchemy as sa

from opsflow.persistence import backends, codec
from opsflow.persistence.backends import impl_sqlalchemy, sql_schema
from opsflow.types.failure import Failure


def test_bare_postgresql_and_mysql_urls_use_psycopg_and_pymysql():
    assert impl_sqlalchemy.make_url("postgresql://u@h/db").drivername == (
        "postgresql+psycopg"
    )
    assert impl_sqlalchemy.make_url("mysql://u@h/db").drivername == "mysql+pymysql"
    assert impl_sqlalchemy.make_url("mysql+pymysql://u@h/db").drivername == (
        "mysql+pymysql"
    )


def test_each_sql_scheme_loads_the_sqlalchemy_backend(tmp_path):
    backend = backends.fetch(f"sqlite:///{tmp_path}/a.sqlite")
    try:
        assert isinstance(backend, impl_sqlalchemy.SQLAlchemyBackend)
    finally:
        backend.close()


def test_the_sqlite_store_is_private_and_in_wal_mode(tmp_path):
    # Given a store path whose directory does not exist yet
    path = tmp_path / "state" / "opsflow.sqlite"
    backend = backends.fetch(f"sqlite:///{path}")
    backend.get_connection().upgrade()

    # Then the directory is 0700, the file 0600, and the journal is WAL
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with backend.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    backend.close()


def test_synchronous_full_can_be_asked_for_in_the_url(tmp_path):
    backend = backends.fetch(f"sqlite:///{tmp_path}/s.sqlite?synchronous=FULL")
    with backend.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    backend.close()


def test_sqlite_synchronous_full_from_the_configuration_syncs_every_commit(tmp_path):
    # Given [persistence] sqlite_synchronous = full in a configuration file
    from opsflow.conf import loader
    from opsflow.runs import store

    conf_file = tmp_path / "opsflow.conf"
    conf_file.write_text(
        f"[DEFAULT]\nstate_path = {tmp_path}/state\n"
        "[persistence]\nsqlite_synchronous = full\n"
    )
    conf = loader.load([str(conf_file)])

    # When the run store is opened
    backend = store.open_backend(conf)

    # Then its SQLite connections use synchronous=FULL
    try:
        with backend.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        backend.close()


def test_the_url_synchronous_wins_over_the_configuration(tmp_path):
    backend = backends.fetch(
        {
            "connection": f"sqlite:///{tmp_path}/s.sqlite?synchronous=normal",
            "sqlite_synchronous": "full",
        }
    )
    with backend.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    backend.close()


def test_an_unknown_synchronous_setting_is_a_one_line_configuration_error(tmp_path):
    from opsflow import exceptions

    with pytest.raises(exceptions.ConfigurationError) as caught:
        backends.fetch(f"sqlite:///{tmp_path}/s.sqlite?synchronous=sometimes")
    message = str(caught.value)
    assert "\n" not in message
    assert "synchronous=sometimes is not one of normal, full" in message


def test_the_schema_revision_the_backend_expects_is_alembics_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", impl_sqlalchemy.MIGRATIONS)
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head == sql_schema.SCHEMA_REVISION


def _open_in_a_fresh_process(url: str) -> list[str]:
    """Open and upgrade ``url`` in a new interpreter: the alembic modules
    it imported."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from opsflow.persistence import backends\n"
        f"backend = backends.fetch({url!r})\n"
        "backend.get_connection().upgrade()\n"
        "backend.close()\n"
        "print(' '.join(m for m in sys.modules if m.split('.')[0] == 'alembic'))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_opening_a_current_store_does_not_import_alembic(tmp_path):
    # Given a store created (migrated) by another process
    url = f"sqlite:///{tmp_path}/current.sqlite"
    assert "alembic.command" in _open_in_a_fresh_process(url)

    # When a new process opens it, Then alembic is not even imported
    assert _open_in_a_fresh_process(url) == []


def test_a_store_at_an_older_revision_is_still_migrated(tmp_path):
    # Given a store whose version table says the first revision
    url = f"sqlite:///{tmp_path}/old.sqlite"
    _open_in_a_fresh_process(url)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.update(sql_schema.alembic_versions).values(version_num="0001"))
    engine.dispose()

    # When it is opened, Then alembic brings it to the latest revision
    assert "alembic.command" in _open_in_a_fresh_process(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sql_schema.alembic_versions)).scalar() == (
            sql_schema.SCHEMA_REVISION
        )
    engine.dispose()


def test_the_tables_the_backend_uses_are_the_ones_the_migrations_create(tmp_path):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    backend = backends.fetch(f"sqlite:///{tmp_path}/m.sqlite")
    backend.get_connection().upgrade()
    with backend.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"version_table": impl_sqlalchemy.VERSION_TABLE}
        )
        diffs = compare_metadata(context, impl_sqlalchemy.metadata)
        revision = context.get_current_revision()
    backend.close()
    assert diffs == []
    assert revision == "0002"


def sqlite_statements(backend: impl_sqlalchemy.SQLAlchemyBackend) -> list[str]:
    """Every statement SQLite runs for ``backend`` from now on (the engine's
    writes go to the driver's cursor, past SQLAlchemy's own events), as
    SQLite's trace callback reports them: one per row of an executemany."""
    statements: list[str] = []
    sa.event.listen(
        backend.engine,
        "checkout",
        lambda dbapi_conn, _record, _proxy: dbapi_conn.set_trace_callback(
            statements.append
        ),
    )
    return statements


def test_a_progress_update_does_not_rewrite_a_large_result(tmp_path):
    # Given a stored atom with a large result
    from opsflow.persistence import models

    backend = backends.fetch(f"sqlite:///{tmp_path}/p.sqlite")
    statements = sqlite_statements(backend)
    conn = backend.get_connection()
    conn.upgrade()
    book = models.LogBook("b")
    flow_detail = models.FlowDetail("f")
    book.add(flow_detail)
    conn.save_logbook(book)
    detail = models.TaskDetail("t", results="r" * 100_000)
    flow_detail.add(detail)
    conn.save_atom_detail(flow_detail, detail)

    # When only its progress changes
    statements.clear()
    detail.meta["progress"] = 0.5
    conn.save_atom_detail(flow_detail, detail)

    # Then it waits for the next write that matters (or a flush)...
    assert statements == []
    conn.flush()

    # ...and the update names the meta column only
    updates = [s for s in statements if s.startswith("UPDATE opsflow_atomdetails")]
    assert len(updates) == 1
    assert "meta" in updates[0] and "results" not in updates[0]
    backend.close()


def test_values_json_cannot_hold_come_back_as_they_went_in():
    value = {
        "tuple": (1, (2, 3)),
        "set": {1, 2},
        "frozen": frozenset({"a"}),
        "bytes": b"\x00\xff",
        "when": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "day": datetime.date(2024, 1, 2),
        7: "int key",
        "nested": [{"__opsflow__": "not a tag"}],
    }
    assert codec.decode(codec.encode(value)) == value
    failure = codec.decode(codec.encode(Failure.from_exception(KeyError("k"))))
    assert isinstance(failure, Failure) and failure.check(KeyError)


def test_an_object_json_cannot_hold_is_stored_as_its_repr():
    class Opaque:
        def __repr__(self) -> str:
            return "<Opaque>"

    assert codec.decode(codec.encode({"o": Opaque()})) == {"o": "<Opaque>"}


def test_creating_a_store_logs_only_what_it_migrates(tmp_path):
    import subprocess
    import sys

    # Given a process whose logging shows INFO (an operator's run log)
    script = (
        "import logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stdout)\n"
        "from opsflow.persistence import backends\n"
        f"backend = backends.fetch('sqlite:///{tmp_path}/store.sqlite')\n"
        "backend.get_connection().upgrade()\n"
    )
    # When it creates a store
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    # Then the migrations are logged, alembic's own plugin set-up is not
    assert "Running upgrade" in done.stdout
    assert "setup plugin" not in done.stdout


def test_a_persisted_linear_run_costs_two_commits_and_one_insert_a_task(tmp_path):
    # Given a SQLite store and a linear flow of no-op tasks
    from opsflow import engines, task
    from opsflow.patterns import linear_flow

    class Noop(task.Task):
        def execute(self) -> None:
            return None

    size = 20
    url = f"sqlite:///{tmp_path}/r.sqlite"
    backend = backends.fetch(url)
    statements = sqlite_statements(backend)
    backend.get_connection().upgrade()
    engine = engines.load(
        linear_flow.Flow("f").add(*(Noop(f"t{i}") for i in range(size))),
        backend=backend,
    )
    statements.clear()

    # When it runs
    engine.run()
    backend.close()

    # Then each atom is inserted once (never looked for first: this backend
    # saved the flow), and each task costs two transactions (RUNNING, then
    # SUCCESS with its result) and three updates (progress 1.0 rides along)
    def count(prefix: str) -> int:
        return sum(1 for s in statements if s.startswith(prefix))

    assert count("INSERT INTO opsflow_atomdetails") == size
    assert count("UPDATE opsflow_atomdetails") <= 3 * size
    assert count("COMMIT") <= 2 * size + 3
    assert count("BEGIN") == count("COMMIT")

    # ...and what a fresh process reads back is the finished run
    reader = backends.fetch(url)
    try:
        flow_detail = reader.get_connection().get_flow_details(engine.storage.flow_uuid)
        assert flow_detail.state == "SUCCESS"
        assert [d.state for d in flow_detail] == ["SUCCESS"] * size
        assert [d.meta.get("progress") for d in flow_detail] == [1.0] * size
    finally:
        reader.close()


def test_after_a_write_fails_half_way_its_rolled_back_changes_are_written_again(
    tmp_path,
):
    # Given a stored atom, and a store that refuses one atom name (a trigger)
    from opsflow import exceptions
    from opsflow.persistence import models

    url = f"sqlite:///{tmp_path}/f.sqlite"
    backend = backends.fetch(url)
    conn = backend.get_connection()
    conn.upgrade()
    book = models.LogBook("b")
    flow_detail = models.FlowDetail("f")
    atom = models.TaskDetail("a")
    flow_detail.add(atom)
    book.add(flow_detail)
    conn.save_logbook(book)
    with backend.engine.begin() as admin:
        admin.exec_driver_sql(
            "CREATE TRIGGER refuse BEFORE INSERT ON opsflow_atomdetails "
            "WHEN NEW.name = 'refused' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )

    # When one transaction changes the atom, then fails on another
    atom.state = "RUNNING"
    flow_detail.add(models.TaskDetail("refused"))
    with pytest.raises(exceptions.StorageFailure, match="refused"):
        conn.update_flow_details(flow_detail)

    # Then writing the same change again reaches the store
    conn.save_atom_detail(flow_detail, atom)
    backend.close()
    reader = backends.fetch(url)
    try:
        stored = reader.get_connection().get_atom_details(atom.uuid)
    finally:
        reader.close()
    assert stored.state == "RUNNING"


def test_a_held_back_progress_never_brings_back_an_older_state(tmp_path):
    # Given a running atom whose progress one connection holds back
    from opsflow.persistence import models

    url = f"sqlite:///{tmp_path}/h.sqlite"
    backend = backends.fetch(url)
    first, second = backend.get_connection(), backend.get_connection()
    first.upgrade()
    book = models.LogBook("b")
    flow_detail = models.FlowDetail("f")
    atom = models.TaskDetail("a", state="RUNNING")
    flow_detail.add(atom)
    book.add(flow_detail)
    first.save_logbook(book)
    atom.meta["progress"] = 0.5
    first.save_atom_detail(flow_detail, atom)

    # When another connection of the backend records its failure, and the
    # first then writes what it held back
    atom.state = "FAILURE"
    second.save_atom_detail(flow_detail, atom)
    first.flush()
    backend.close()

    # Then the store has the failure, and the progress
    reader = backends.fetch(url)
    try:
        stored = reader.get_connection().get_atom_details(atom.uuid)
    finally:
        reader.close()
    assert (stored.state, stored.meta.get("progress")) == ("FAILURE", 0.5)
