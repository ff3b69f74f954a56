"""Give TaskFlow's SQL persistence tests the database account they look for.

TaskFlow's ``test_sql_persistence`` runs its PostgreSQL and MySQL classes
against ``openstack_citest``/``openstack_citest`` on localhost, creating
and dropping a database of its own per test. This makes that account on
the PostgreSQL (127.0.0.1:5432, as ``postgres``) and MariaDB (127.0.0.1:3306,
as ``root``) of the machine, if they are there; a server that is down is
reported and left alone (the tests then skip, which ``run.py`` refuses
under ``OPSFLOW_REQUIRE_SERVICES=1``).
"""

from __future__ import annotations

import sys

import sqlalchemy as sa

ACCOUNT = "openstack_citest"

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/"


def _postgres() -> None:
    engine = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_roles WHERE rolname = :name"), {"name": ACCOUNT}
        ).first()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sa.text(f"{verb} ROLE {ACCOUNT} LOGIN CREATEDB PASSWORD '{ACCOUNT}'")
        )
    engine.dispose()


def _mariadb() -> None:
    engine = sa.create_engine(MARIADB)
    with engine.begin() as conn:
        for host in ("localhost", "%", "127.0.0.1"):
            conn.execute(
                sa.text(
                    f"CREATE USER IF NOT EXISTS '{ACCOUNT}'@'{host}' "
                    f"IDENTIFIED BY '{ACCOUNT}'"
                )
            )
            conn.execute(
                sa.text(f"GRANT ALL PRIVILEGES ON *.* TO '{ACCOUNT}'@'{host}'")
            )
    engine.dispose()


def main() -> int:
    for name, prepare in (("PostgreSQL", _postgres), ("MariaDB", _mariadb)):
        try:
            prepare()
        except Exception as exc:  # a server that is not there, a driver missing
            print(
                f"{name}: not prepared ({type(exc).__name__}: {exc})", file=sys.stderr
            )
        else:
            print(f"{name}: account {ACCOUNT} ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
