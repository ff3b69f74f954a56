"""A first migration killed half-way never bricks a MariaDB store.

MariaDB commits each ``CREATE TABLE`` on its own, so a ``kill -9`` during
the first-use migration leaves some tables and no version row. The next
``opsflow-manage db upgrade`` (or any ``opsflow-run``) completes it.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

import pytest
import storekit

pytestmark = pytest.mark.integration


@pytest.fixture
def mariadb(cli):
    with storekit.mariadb_database() as url:
        with open(cli.config, "a") as handle:
            handle.write(f"[persistence]\nconnection = {url}\n")
        yield url


def _manage(cli, *args: str) -> subprocess.CompletedProcess[str]:
    exe = os.path.join(os.path.dirname(cli.exe), "opsflow-manage")
    return subprocess.run(
        [exe, "--config-file", cli.config, *args],
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
    )


def _half_made_schema(url: str) -> None:
    """What a migration killed after its third CREATE TABLE leaves: the
    version table with no row, two tables, and none of their indexes."""
    import sqlalchemy as sa

    from opsflow.persistence.backends import sql_schema

    engine = sa.create_engine(sql_schema.make_url(url))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE opsflow_alembic_version "
            "(version_num VARCHAR(32) NOT NULL, PRIMARY KEY (version_num))"
        )
        conn.execute(sa.schema.CreateTable(sql_schema.logbooks))
        conn.execute(sa.schema.CreateTable(sql_schema.flowdetails))
    engine.dispose()


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from opsflow.persistence.backends.sql_schema import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return str(ScriptDirectory.from_config(config).get_current_head())


COMPLETE = {
    "opsflow_alembic_version": ["PRIMARY"],
    "opsflow_atomdetails": ["PRIMARY", "ix_opsflow_atomdetails_parent_uuid", "uuid"],
    "opsflow_flowdetails": [
        "PRIMARY",
        "ix_opsflow_flowdetails_parent_uuid",
        "ix_opsflow_flowdetails_updated_at",
    ],
    "opsflow_logbooks": ["PRIMARY"],
    "opsflow_run_leases": ["PRIMARY"],
    "version": [_head()],
}


def test_opsflow_manage_completes_a_schema_left_half_made(cli, mariadb):
    # Given a store whose first migration was killed half-way
    _half_made_schema(mariadb)
    # When the operator runs opsflow-manage db upgrade
    upgraded = _manage(cli, "db", "upgrade")
    # Then the schema is completed, tables, indexes and version row
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is up to date" in upgraded.stdout
    assert storekit.mariadb_tables(mariadb) == COMPLETE
    # And runs work on it
    ran = cli.run("demo", "--store", "steps=1")
    assert ran.returncode == 0, ran.stderr


def test_opsflow_run_completes_a_half_made_schema_on_first_use(cli, mariadb):
    _half_made_schema(mariadb)
    ran = cli.run("demo", "--store", "steps=1")
    assert ran.returncode == 0, ran.stderr
    assert storekit.mariadb_tables(mariadb) == COMPLETE


def test_opsflow_manage_names_itself_in_its_errors(cli):
    with open(cli.config, "a") as handle:
        handle.write("[persistence]\nconnection = mysql://root@127.0.0.1:9/none\n")
    failed = _manage(cli, "db", "upgrade")
    assert failed.returncode == 69, failed.stderr
    assert failed.stderr.startswith("opsflow-manage: error: "), failed.stderr
    assert "opsflow-run" not in failed.stderr


def test_kills_at_random_instants_of_the_first_migration_never_brick_the_store(
    cli, tmp_path
):
    rng = random.Random()
    for trial in range(4):
        with storekit.mariadb_database() as url:
            config = tmp_path / f"trial-{trial}.conf"
            config.write_text(
                f"[DEFAULT]\nstate_path = {tmp_path}/state-{trial}\n"
                f"[persistence]\nconnection = {url}\n"
            )
            # Given opsflow-run killed at a random instant of the migration
            proc = subprocess.Popen(
                [cli.exe, "--config-file", str(config), "demo", "--store", "steps=1"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=cli.env,
            )
            _wait_for_a_table(url, proc)
            time.sleep(rng.uniform(0, 0.15))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            # When opsflow-run is run again, then it completes the schema
            again = subprocess.run(
                [cli.exe, "--config-file", str(config), "demo", "--store", "steps=1"],
                capture_output=True,
                text=True,
                env=cli.env,
                timeout=60,
            )
            assert again.returncode == 0, again.stderr
            assert storekit.mariadb_tables(url) == COMPLETE


def _wait_for_a_table(url: str, proc: subprocess.Popen[bytes]) -> None:
    """Wait until the migration has created its first table."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if storekit.mariadb_tables(url):
            return
        time.sleep(0.01)
