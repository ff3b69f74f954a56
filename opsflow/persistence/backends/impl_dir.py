"""The ``dir://`` (or ``file://``) backend: runs kept as JSON files in a directory.

For TaskFlow programs that keep their runs on a (shared) filesystem, with no
database server. Configuration::

    {"connection": "dir:", "path": "/var/lib/app/runs", "max_cache_size": 512}

Each record is a file of its own, written whole to a temporary name and
renamed into place, so a reader never sees half a record and a killed
writer leaves the previous version::

    books/<uuid>.json   a logbook's fields and the uuids of its flow details
    flows/<uuid>.json   a flow detail's fields, its logbook and its atom uuids
    atoms/<uuid>.json   an atom detail

Every operation holds an exclusive ``flock`` on ``<path>/.lock`` (and a
thread lock), so processes sharing the directory never interleave their
changes. Values are stored with :mod:`opsflow.persistence.codec`, so
tuples, sets, bytes and failures come back as they went in. Parsed files
are cached (up to ``max_cache_size`` of them, or all when it is not given)
and read again when their size or modification time changed.

Run leases (who runs a run, see :mod:`opsflow.persistence.leases`) are
files under ``leases/``, changed under the same lock, so ``opsflow-run``
can use this store too.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import errno
import fcntl
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

from opsflow import exceptions
from opsflow.persistence import base, codec, leases, models

__all__ = ["DirBackend", "DirConnection", "FileCache"]

_BOOKS, _FLOWS, _ATOMS, _LEASES = "books", "flows", "atoms", "leases"
_KINDS: dict[str, type[models.AtomDetail]] = {
    "task": models.TaskDetail,
    "retry": models.RetryDetail,
}


class FileCache:
    """Parsed files by path, the least recently used dropped past ``maxsize``."""

    def __init__(self, maxsize: int | None = None) -> None:
        self.maxsize = maxsize
        self._entries: collections.OrderedDict[str, tuple[tuple[int, int], Any]] = (
            collections.OrderedDict()
        )

    @property
    def currsize(self) -> int:
        """How many files are cached."""
        return len(self._entries)

    def get(self, path: str, stamp: tuple[int, int]) -> Any:
        """The cached content of ``path`` if the file still has ``stamp``."""
        entry = self._entries.get(path)
        if entry is None or entry[0] != stamp:
            return None
        self._entries.move_to_end(path)
        return entry[1]

    def put(self, path: str, stamp: tuple[int, int], content: Any) -> None:
        self._entries[path] = (stamp, content)
        self._entries.move_to_end(path)
        while self.maxsize is not None and len(self._entries) > self.maxsize:
            self._entries.popitem(last=False)

    def drop(self, path: str) -> None:
        self._entries.pop(path, None)

    def clear(self) -> None:
        self._entries.clear()


class DirBackend(base.Backend):
    """Keeps logbooks as JSON files under ``conf["path"]``."""

    def __init__(self, conf: Mapping[str, Any]) -> None:
        super().__init__(conf)
        # ``dir:///var/lib/runs`` names the directory as well as ``path``.
        path = self._conf.get("path") or urlsplit(self._conf.get("connection", "")).path
        if not path:
            raise ValueError("The dir backend needs a 'path' to keep its files in")
        self.path = os.path.abspath(os.path.expanduser(str(path)))
        max_cache_size = self._conf.get("max_cache_size")
        if max_cache_size is not None:
            max_cache_size = int(max_cache_size)
            if max_cache_size < 1:
                raise ValueError(
                    "Maximum cache size must be greater than or equal to one"
                )
        self.file_cache = FileCache(max_cache_size)
        self.lock = threading.RLock()

    def get_connection(self) -> DirConnection:
        return DirConnection(self)

    def close(self) -> None:
        self.file_cache.clear()


def _not_found(kind: str, uuid: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"No {kind} found with uuid '{uuid}'")


class DirConnection(base.Connection):
    """Reads and writes one backend's directory."""

    def __init__(self, backend: DirBackend) -> None:
        self._backend = backend
        self._cache = backend.file_cache

    # -- files ------------------------------------------------------------------
    def _file(self, kind: str, uuid: str) -> str:
        if os.sep in uuid or uuid in ("", ".", ".."):
            raise exceptions.NotFound(f"No record may be named {uuid!r}")
        return os.path.join(self._backend.path, kind, f"{uuid}.json")

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the directory for this thread and process only."""
        with self._backend.lock:
            try:
                os.makedirs(self._backend.path, mode=0o700, exist_ok=True)
                with open(os.path.join(self._backend.path, ".lock"), "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(lock, fcntl.LOCK_UN)
            except OSError as exc:
                raise exceptions.StorageFailure(
                    f"dir backend {self._backend.path}: {exc}", exc
                ) from exc

    def _read(self, kind: str, uuid: str) -> Any:
        path = self._file(kind, uuid)
        try:
            status = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = (status.st_mtime_ns, status.st_size)
        content = self._cache.get(path, stamp)
        if content is None:
            with open(path, encoding="utf-8") as handle:
                content = json.load(handle)
            self._cache.put(path, stamp, content)
        return content

    def _write(self, kind: str, uuid: str, content: Any) -> None:
        path = self._file(kind, uuid)
        directory = os.path.dirname(path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(content, out)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._cache.drop(path)

    def _delete(self, kind: str, uuid: str) -> None:
        path = self._file(kind, uuid)
        self._cache.drop(path)
        try:
            os.unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise

    # -- records ----------------------------------------------------------------
    def _load_atom(self, uuid: str) -> models.AtomDetail | None:
        content = self._read(_ATOMS, uuid)
        if content is None:
            return None
        data = codec.decode(content["atom"])
        return _KINDS.get(data.get("kind"), models.TaskDetail).from_dict(data)

    def _load_flow(self, uuid: str, lazy: bool = False) -> models.FlowDetail | None:
        content = self._read(_FLOWS, uuid)
        if content is None:
            return None
        data = codec.decode(content["flow"])
        flow = models.FlowDetail.from_dict(data)
        for key in ("created_at", "updated_at"):
            if data.get(key) is not None:
                setattr(flow, key, data[key])
        if not lazy:
            for atom_uuid in content["atoms"]:
                atom = self._load_atom(atom_uuid)
                if atom is not None:
                    flow.add(atom)
        return flow

    def _load_book(self, uuid: str, lazy: bool = False) -> models.LogBook | None:
        content = self._read(_BOOKS, uuid)
        if content is None:
            return None
        book = models.LogBook.from_dict(codec.decode(content["book"]))
        if not lazy:
            updated_at = book.updated_at  # as stored, not moved by add()
            for flow_uuid in content["flows"]:
                flow = self._load_flow(flow_uuid)
                if flow is not None:
                    book.add(flow)
            book.updated_at = updated_at
        return book

    def _save_atom(self, flow_uuid: str, atom: models.AtomDetail) -> None:
        self._write(
            _ATOMS, atom.uuid, {"flow": flow_uuid, "atom": codec.encode(atom.to_dict())}
        )

    def _save_flow_fields(
        self, book_uuid: str, flow: models.FlowDetail, atom_uuids: list[str]
    ) -> None:
        data = flow.to_dict()
        data.update(created_at=flow.created_at, updated_at=models._now())
        self._write(
            _FLOWS,
            flow.uuid,
            {"book": book_uuid, "flow": codec.encode(data), "atoms": atom_uuids},
        )

    def _save_flow(self, book_uuid: str, flow: models.FlowDetail) -> None:
        """Write ``flow`` and its atoms, keeping atoms stored before and not in it."""
        stored = self._read(_FLOWS, flow.uuid)
        atom_uuids = list(stored["atoms"]) if stored else []
        for atom in flow:
            self._save_atom(flow.uuid, atom)
            if atom.uuid not in atom_uuids:
                atom_uuids.append(atom.uuid)
        self._save_flow_fields(book_uuid, flow, atom_uuids)

    def _stored_flow(self, flow_uuid: str) -> Any:
        stored = self._read(_FLOWS, flow_uuid)
        if stored is None:
            raise exceptions.NotFound(
                f"Flow detail '{flow_uuid}' is in no saved logbook"
            )
        return stored

    # -- the connection ------------------------------------------------------------
    def upgrade(self) -> None:
        """Create the directories (nothing to migrate)."""
        with self._locked():
            for kind in (_BOOKS, _FLOWS, _ATOMS):
                os.makedirs(
                    os.path.join(self._backend.path, kind), mode=0o700, exist_ok=True
                )

    def validate(self) -> None:
        with self._locked():
            pass

    def save_logbook(self, book: models.LogBook) -> models.LogBook:
        with self._locked():
            stored = self._read(_BOOKS, book.uuid)
            flow_uuids = list(stored["flows"]) if stored else []
            for flow in book:
                self._save_flow(book.uuid, flow)
                if flow.uuid not in flow_uuids:
                    flow_uuids.append(flow.uuid)
            self._write(
                _BOOKS,
                book.uuid,
                {"book": codec.encode(book.to_dict()), "flows": flow_uuids},
            )
            saved = self._load_book(book.uuid)
        assert saved is not None
        return saved

    def get_logbook(self, book_uuid: str, lazy: bool = False) -> models.LogBook:
        with self._locked():
            book = self._load_book(book_uuid, lazy=lazy)
        if book is None:
            raise _not_found("logbook", book_uuid)
        return book

    def get_logbooks(self, lazy: bool = False) -> Iterator[models.LogBook]:
        with self._locked():
            directory = os.path.join(self._backend.path, _BOOKS)
            names = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
            books = [
                self._load_book(name[: -len(".json")], lazy=lazy)
                for name in names
                if name.endswith(".json")
            ]
        return iter([book for book in books if book is not None])

    def get_flows_for_book(
        self, book_uuid: str, lazy: bool = False
    ) -> Iterator[models.FlowDetail]:
        book = self.get_logbook(book_uuid)
        return iter(
            [flow.copy(retain_contents=False) if lazy else flow for flow in book]
        )

    def get_flow_details(self, flow_uuid: str, lazy: bool = False) -> models.FlowDetail:
        with self._locked():
            flow = self._load_flow(flow_uuid, lazy=lazy)
        if flow is None:
            raise _not_found("flow detail", flow_uuid)
        return flow

    def get_atoms_for_flow(self, flow_uuid: str) -> Iterator[models.AtomDetail]:
        return iter(self.get_flow_details(flow_uuid))

    def get_atom_details(self, atom_uuid: str) -> models.AtomDetail:
        with self._locked():
            atom = self._load_atom(atom_uuid)
        if atom is None:
            raise _not_found("atom detail", atom_uuid)
        return atom

    def get_logbook_of(self, flow_uuid: str) -> models.LogBook:
        with self._locked():
            stored = self._read(_FLOWS, flow_uuid)
        if stored is None:
            raise _not_found("flow detail", flow_uuid)
        return self.get_logbook(stored["book"])

    def update_flow_details(self, flow_detail: models.FlowDetail) -> models.FlowDetail:
        with self._locked():
            stored = self._stored_flow(flow_detail.uuid)
            self._save_flow(stored["book"], flow_detail)
        return flow_detail

    def save_flow_detail(self, flow_detail: models.FlowDetail) -> None:
        with self._locked():
            stored = self._stored_flow(flow_detail.uuid)
            self._save_flow_fields(stored["book"], flow_detail, list(stored["atoms"]))

    def update_atom_details(self, atom_detail: models.AtomDetail) -> models.AtomDetail:
        with self._locked():
            stored = self._read(_ATOMS, atom_detail.uuid)
            if stored is None:
                raise _not_found("atom detail", atom_detail.uuid)
            self._save_atom(stored["flow"], atom_detail)
        return atom_detail

    def save_atom_detail(
        self, flow_detail: models.FlowDetail, atom_detail: models.AtomDetail
    ) -> None:
        with self._locked():
            stored = self._stored_flow(flow_detail.uuid)
            self._save_atom(flow_detail.uuid, atom_detail)
            if atom_detail.uuid not in stored["atoms"]:
                self._save_flow_fields(
                    stored["book"],
                    flow_detail,
                    [*stored["atoms"], atom_detail.uuid],
                )

    def destroy_logbook(self, book_uuid: str) -> None:
        with self._locked():
            stored = self._read(_BOOKS, book_uuid)
            if stored is None:
                raise _not_found("logbook", book_uuid)
            for flow_uuid in stored["flows"]:
                flow = self._read(_FLOWS, flow_uuid)
                for atom_uuid in flow["atoms"] if flow else ():
                    self._delete(_ATOMS, atom_uuid)
                self._delete(_FLOWS, flow_uuid)
            self._delete(_BOOKS, book_uuid)

    def clear_all(self) -> None:
        with self._locked():
            for kind in (_BOOKS, _FLOWS, _ATOMS, _LEASES):
                directory = os.path.join(self._backend.path, kind)
                for name in os.listdir(directory) if os.path.isdir(directory) else ():
                    if name.endswith(".json"):
                        self._delete(kind, name[: -len(".json")])
            self._cache.clear()

    # -- run leases -----------------------------------------------------------
    def _lease(self, flow_uuid: str) -> leases.Lease | None:
        content = self._read(_LEASES, flow_uuid)
        return leases.Lease(**content) if content is not None else None

    def _put_lease(self, lease: leases.Lease) -> None:
        self._write(_LEASES, lease.flow_uuid, dataclasses.asdict(lease))

    def insert_lease(self, lease: leases.Lease) -> bool:
        with self._locked():
            if self._lease(lease.flow_uuid) is not None:
                return False
            self._put_lease(lease)
            return True

    def get_lease(self, flow_uuid: str) -> leases.Lease | None:
        with self._locked():
            return self._lease(flow_uuid)

    def replace_lease(self, old_token: str, lease: leases.Lease) -> bool:
        with self._locked():
            held = self._lease(lease.flow_uuid)
            if held is None or held.token != old_token:
                return False
            self._put_lease(lease)
            return True

    def renew_lease(
        self, flow_uuid: str, token: str, heartbeat_at: float, expires_at: float
    ) -> bool:
        with self._locked():
            held = self._lease(flow_uuid)
            if held is None or held.token != token:
                return False
            renewed = dataclasses.replace(
                held, heartbeat_at=heartbeat_at, expires_at=expires_at
            )
            self._put_lease(renewed)
            return True

    def delete_lease(self, flow_uuid: str, token: str) -> None:
        with self._locked():
            held = self._lease(flow_uuid)
            if held is not None and held.token == token:
                self._delete(_LEASES, flow_uuid)
