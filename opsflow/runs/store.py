"""The run store: the persistence backend ``[persistence] connection`` names.

Each run is one flow detail, in a logbook of its own (default store: a
SQLite file under ``state_path``). Opening it upgrades its schema (created
on first use); commands that only read open a SQLite store they cannot
write to as it is, and never create one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from opsflow import exceptions
from opsflow.persistence import base, models

if TYPE_CHECKING:
    from oslo_config import cfg

    from opsflow.plugins.catalog import Catalog

__all__ = ["describe", "find_run", "open_backend", "store_exists"]


def _sqlite_path(connection: str) -> str | None:
    """The file of a SQLite URL (None for another store or an in-memory one)."""
    if not connection.startswith("sqlite"):
        return None
    from opsflow.persistence.backends.impl_sqlalchemy import make_url

    path = make_url(connection).database
    return path if path and path != ":memory:" else None


def describe(conf: cfg.ConfigOpts) -> str:
    """The store's URL without its password, for messages."""
    from opsflow.persistence.backends.impl_sqlalchemy import make_url

    connection = str(conf.persistence.connection)
    try:
        return make_url(connection).render_as_string(hide_password=True)
    except Exception:
        return connection.split("://", 1)[0] + "://..."


def store_exists(conf: cfg.ConfigOpts) -> bool:
    """False only for a SQLite store whose file was never created.

    Reading commands (``--history``, ``--show``, ``--resume``) then report
    that there are no runs instead of creating an empty store.
    """
    path = _sqlite_path(str(conf.persistence.connection))
    return path is None or os.path.exists(path)


def store_file_identity(conf: cfg.ConfigOpts) -> tuple[int, int] | None:
    """``(device, inode)`` of a SQLite store's file: a file deleted or
    replaced while a reader holds it open gets a new one. ``(0, 0)`` while
    the file does not exist; None for a store that is not a file."""
    path = _sqlite_path(str(conf.persistence.connection))
    if path is None:
        return None
    try:
        found = os.stat(path)
    except OSError:
        return (0, 0)
    return (found.st_dev, found.st_ino)


def _writable(conf: cfg.ConfigOpts) -> bool:
    path = _sqlite_path(str(conf.persistence.connection))
    if path is None:
        return True
    directory = os.path.dirname(os.path.abspath(path))
    return os.access(path, os.W_OK) and os.access(directory, os.W_OK)


def open_backend(
    conf: cfg.ConfigOpts, catalog: Catalog | None = None, read_only: bool = False
) -> base.Backend:
    """The configured backend, its schema upgraded (created on first use).

    ``read_only`` is for commands that only read (``--history``, ``--show``):
    a SQLite store this process cannot write to (a read-only file system,
    someone else's directory) is then opened for reading, as it is.

    :raises Unavailable: the store cannot be reached or upgraded (exit 69).
    """
    from opsflow.persistence import backends

    connection = str(conf.persistence.connection)
    if read_only and not _writable(conf):
        return backends.fetch({"connection": connection, "read_only": True}, catalog)
    backend = backends.fetch(
        {
            "connection": connection,
            "sqlite_synchronous": conf.persistence.sqlite_synchronous,
        },
        catalog,
    )
    try:
        backend.get_connection().upgrade()
    except (exceptions.StorageFailure, OSError, ImportError) as exc:
        backend.close()
        raise exceptions.Unavailable(
            f"persistence store {describe(conf)} is unavailable: {exc}"
        ) from exc
    return backend


def find_run(
    connection: base.Connection, run_id: str
) -> tuple[models.LogBook, models.FlowDetail]:
    """The logbook and flow detail of run ``run_id``.

    :raises RunNotFound: the store has no such run (exit 64).
    """
    try:
        book = connection.get_logbook_of(run_id)
    except exceptions.NotFound:
        raise exceptions.RunNotFound(
            f"no run {run_id} in the persistence store"
        ) from None
    flow_detail = book.find(run_id)
    assert flow_detail is not None
    return book, flow_detail
