"""Roles, databases and grants on PostgreSQL, each revert dropping only its own work.

Every task connects with a libpq connection string or URL taken from the
run's values: ``dsn_from`` names the store key (default ``pg_dsn``), which
may be a plain ``--store`` value or a ``--secret``. Passwords come the same
way (``password_from``, default ``db_password``) and are sent as SQL
literals built by psycopg, never logged, and never part of a result.

* :class:`Role` creates a login role; the revert drops it.
* :class:`Database` creates a database; the revert drops it (``WITH
  (FORCE)``, closing the tenant's sessions).
* :class:`Grant` grants database privileges the role does not hold yet; the
  revert revokes exactly those.
* :class:`DropDatabase` and :class:`DropRole` remove them (deprovisioning).

A role or database that already exists is an error (``exist_ok=True``
adopts it instead, and its revert then leaves it alone). Driver errors are
raised as :class:`PostgresTaskError` naming the task's object.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from opsflow import task

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql
else:

    class _OnFirstUse:
        """A module imported when first used: listing the tasks
        (``opsflow-run --list``) does not pay for psycopg."""

        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attribute: str) -> Any:
            module: ModuleType = importlib.import_module(self._name)
            return getattr(module, attribute)

    psycopg = _OnFirstUse("psycopg")
    sql = _OnFirstUse("psycopg.sql")

__all__ = [
    "Database",
    "DropDatabase",
    "DropRole",
    "Grant",
    "PostgresTaskError",
    "Role",
    "connect",
]

#: Privileges a database ACL can hold.
DATABASE_PRIVILEGES = ("CONNECT", "CREATE", "TEMPORARY")


class PostgresTaskError(RuntimeError):
    """A PostgreSQL statement failed, or an object is not as expected."""


@contextmanager
def connect(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection (CREATE/DROP DATABASE run outside transactions)."""
    try:
        connection = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise PostgresTaskError(f"cannot connect to PostgreSQL: {exc}") from exc
    try:
        yield connection
    except psycopg.Error as exc:
        raise PostgresTaskError(str(exc).strip()) from exc
    finally:
        connection.close()


class _PostgresTask(task.Task):
    """Base: the connection string comes from the value named ``dsn_from``."""

    def __init__(self, dsn_from: str = "pg_dsn", **kwargs: Any) -> None:
        rebind = {"dsn": dsn_from, **kwargs.pop("rebind", {})}
        kwargs.setdefault("revert_rebind", {"dsn": dsn_from})
        super().__init__(rebind=rebind, **kwargs)


def _role_exists(connection: psycopg.Connection[Any], role: str) -> bool:
    query = "SELECT 1 FROM pg_roles WHERE rolname = %s"
    return connection.execute(query, (role,)).fetchone() is not None


def _database_exists(connection: psycopg.Connection[Any], name: str) -> bool:
    query = "SELECT 1 FROM pg_database WHERE datname = %s"
    return connection.execute(query, (name,)).fetchone() is not None


class Role(_PostgresTask):
    """Create the login role ``role`` with the password named ``password_from``."""

    def __init__(
        self,
        role: str,
        password_from: str | None = "db_password",
        exist_ok: bool = False,
        **kwargs: Any,
    ) -> None:
        if password_from:
            kwargs["rebind"] = {"password": password_from}
        super().__init__(**kwargs)
        self.role = role
        self.exist_ok = exist_ok

    def execute(self, dsn: str, password: str | None = None) -> dict[str, Any]:
        with connect(dsn) as connection:
            if _role_exists(connection, self.role):
                if not self.exist_ok:
                    raise PostgresTaskError(f"role {self.role} already exists")
                return {"role": self.role, "created": False}
            statement = sql.SQL("CREATE ROLE {} LOGIN").format(
                sql.Identifier(self.role)
            )
            if password is not None:
                statement = sql.SQL("{} PASSWORD {}").format(
                    statement, sql.Literal(password)
                )
            connection.execute(statement)
        return {"role": self.role, "created": True}

    def revert(self, dsn: str, result: Any = None, **kwargs: Any) -> None:
        if isinstance(result, dict) and result["created"]:
            _drop_role(dsn, self.role)


class Database(_PostgresTask):
    """Create the database ``database``, owned by ``owner`` (default: the
    connecting role)."""

    def __init__(
        self,
        database: str,
        owner: str | None = None,
        exist_ok: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.database = database
        self.owner = owner
        self.exist_ok = exist_ok

    def execute(self, dsn: str) -> dict[str, Any]:
        with connect(dsn) as connection:
            if _database_exists(connection, self.database):
                if not self.exist_ok:
                    raise PostgresTaskError(f"database {self.database} already exists")
                return {"database": self.database, "created": False}
            statement = sql.SQL("CREATE DATABASE {}").format(
                sql.Identifier(self.database)
            )
            if self.owner:
                statement = sql.SQL("{} OWNER {}").format(
                    statement, sql.Identifier(self.owner)
                )
            connection.execute(statement)
        return {"database": self.database, "created": True}

    def revert(self, dsn: str, result: Any = None, **kwargs: Any) -> None:
        if isinstance(result, dict) and result["created"]:
            _drop_database(dsn, self.database)


class Grant(_PostgresTask):
    """Grant ``privileges`` on ``database`` to ``role``.

    Only privileges the role does not already hold explicitly are granted,
    and only those are revoked on revert.
    """

    def __init__(
        self,
        database: str,
        role: str,
        privileges: Sequence[str] = DATABASE_PRIVILEGES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        unknown = sorted(set(privileges) - set(DATABASE_PRIVILEGES))
        if unknown:
            raise ValueError(
                f"not database privileges: {', '.join(unknown)}; "
                f"allowed: {', '.join(DATABASE_PRIVILEGES)}"
            )
        self.database = database
        self.role = role
        self.privileges = list(privileges)

    def execute(self, dsn: str) -> dict[str, Any]:
        with connect(dsn) as connection:
            held = _explicit_privileges(connection, self.database, self.role)
            missing = [p for p in self.privileges if p not in held]
            if missing:
                connection.execute(self._statement("GRANT {} ON DATABASE {} TO {}"))
        return {"database": self.database, "role": self.role, "granted": missing}

    def revert(self, dsn: str, result: Any = None, **kwargs: Any) -> None:
        if not isinstance(result, dict) or not result["granted"]:
            return
        with connect(dsn) as connection:
            if not (
                _database_exists(connection, self.database)
                and _role_exists(connection, self.role)
            ):
                return  # gone already, and its privileges with it
            connection.execute(
                self._statement("REVOKE {} ON DATABASE {} FROM {}", result["granted"])
            )

    def _statement(
        self, template: str, privileges: Sequence[str] | None = None
    ) -> sql.Composed:
        chosen = privileges if privileges is not None else self.privileges
        return sql.SQL(template).format(
            sql.SQL(", ").join(sql.SQL(p) for p in chosen if p in DATABASE_PRIVILEGES),
            sql.Identifier(self.database),
            sql.Identifier(self.role),
        )


class DropDatabase(_PostgresTask):
    """Drop the database ``database`` if it exists (deprovisioning)."""

    def __init__(self, database: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.database = database

    def execute(self, dsn: str) -> dict[str, Any]:
        return {
            "database": self.database,
            "dropped": _drop_database(dsn, self.database),
        }


class DropRole(_PostgresTask):
    """Drop the role ``role`` if it exists (deprovisioning)."""

    def __init__(self, role: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.role = role

    def execute(self, dsn: str) -> dict[str, Any]:
        return {"role": self.role, "dropped": _drop_role(dsn, self.role)}


def _explicit_privileges(
    connection: psycopg.Connection[Any], database: str, role: str
) -> set[str]:
    rows = connection.execute(
        "SELECT a.privilege_type FROM pg_database d, aclexplode(d.datacl) a "
        "JOIN pg_roles r ON r.oid = a.grantee "
        "WHERE d.datname = %s AND r.rolname = %s",
        (database, role),
    ).fetchall()
    return {row[0] for row in rows}


def _drop_database(dsn: str, database: str) -> bool:
    with connect(dsn) as connection:
        if not _database_exists(connection, database):
            return False
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(database)
            )
        )
    return True


def _drop_role(dsn: str, role: str) -> bool:
    with connect(dsn) as connection:
        if not _role_exists(connection, role):
            return False
        connection.execute(
            sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role))
        )
    return True
