"""The ``memory://`` backend: runs kept in this process only (tests, one-shot runs).

Everything is copied in and out, so callers never share objects with the
store, as with a real database.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from typing import Any

from opsflow import exceptions
from opsflow.persistence import base, models

__all__ = ["MemoryBackend"]


class _Store:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.books: dict[str, models.LogBook] = {}
        #: flow uuid -> the logbook uuid holding it
        self.flow_book: dict[str, str] = {}
        #: flow uuid -> its run lease
        self.leases: dict[str, Any] = {}


class MemoryConnection(base.Connection):
    """Reads and writes the backend's in-process store."""

    def __init__(self, store: _Store) -> None:
        self._store = store

    def upgrade(self) -> None:
        """Nothing to migrate in memory."""

    def save_logbook(self, book: models.LogBook) -> models.LogBook:
        with self._store.lock:
            saved = copy.deepcopy(book)
            self._store.books[book.uuid] = saved
            for flow_detail in saved:
                self._store.flow_book[flow_detail.uuid] = book.uuid
            return copy.deepcopy(saved)

    def get_logbook(self, book_uuid: str, lazy: bool = False) -> models.LogBook:
        with self._store.lock:
            try:
                return copy.deepcopy(self._store.books[book_uuid])
            except KeyError:
                raise exceptions.NotFound(
                    f"No logbook found with uuid '{book_uuid}'"
                ) from None

    def get_logbooks(self, lazy: bool = False) -> Iterator[models.LogBook]:
        with self._store.lock:
            books = [copy.deepcopy(book) for book in self._store.books.values()]
        return iter(books)

    def get_flow_details(
        self, book_uuid: str, lazy: bool = False
    ) -> Iterator[models.FlowDetail]:
        return iter(list(self.get_logbook(book_uuid)))

    def _flow(self, flow_detail: models.FlowDetail) -> models.FlowDetail:
        book_uuid = self._store.flow_book.get(flow_detail.uuid)
        if book_uuid is None:
            raise exceptions.NotFound(
                f"Flow detail '{flow_detail.uuid}' is in no saved logbook"
            )
        stored = self._store.books[book_uuid].find(flow_detail.uuid)
        assert stored is not None
        return stored

    def update_flow_details(self, flow_detail: models.FlowDetail) -> None:
        with self._store.lock:
            stored = self._flow(flow_detail)
            stored.state = flow_detail.state
            stored.meta = copy.deepcopy(flow_detail.meta)
            stored.updated_at = models._now()

    def save_atom_detail(
        self, flow_detail: models.FlowDetail, atom_detail: models.AtomDetail
    ) -> None:
        with self._store.lock:
            stored = self._flow(flow_detail)
            stored.add(copy.deepcopy(atom_detail))
            stored.updated_at = models._now()

    def destroy_logbook(self, book_uuid: str) -> None:
        with self._store.lock:
            book = self._store.books.pop(book_uuid, None)
            if book is None:
                raise exceptions.NotFound(f"No logbook found with uuid '{book_uuid}'")
            for flow_detail in book:
                self._store.flow_book.pop(flow_detail.uuid, None)

    def clear_all(self) -> None:
        with self._store.lock:
            self._store.books.clear()
            self._store.flow_book.clear()
            self._store.leases.clear()

    def get_logbook_of(self, flow_uuid: str) -> models.LogBook:
        with self._store.lock:
            book_uuid = self._store.flow_book.get(flow_uuid)
        if book_uuid is None:
            raise exceptions.NotFound(f"No flow detail found with uuid '{flow_uuid}'")
        return self.get_logbook(book_uuid)

    # -- run leases ----------------------------------------------------------
    def insert_lease(self, lease: Any) -> bool:
        with self._store.lock:
            if lease.flow_uuid in self._store.leases:
                return False
            self._store.leases[lease.flow_uuid] = lease
            return True

    def get_lease(self, flow_uuid: str) -> Any:
        with self._store.lock:
            return self._store.leases.get(flow_uuid)

    def replace_lease(self, old_token: str, lease: Any) -> bool:
        with self._store.lock:
            held = self._store.leases.get(lease.flow_uuid)
            if held is None or held.token != old_token:
                return False
            self._store.leases[lease.flow_uuid] = lease
            return True

    def renew_lease(
        self, flow_uuid: str, token: str, heartbeat_at: float, expires_at: float
    ) -> bool:
        import dataclasses

        with self._store.lock:
            held = self._store.leases.get(flow_uuid)
            if held is None or held.token != token:
                return False
            self._store.leases[flow_uuid] = dataclasses.replace(
                held, heartbeat_at=heartbeat_at, expires_at=expires_at
            )
            return True

    def delete_lease(self, flow_uuid: str, token: str) -> None:
        with self._store.lock:
            held = self._store.leases.get(flow_uuid)
            if held is not None and held.token == token:
                del self._store.leases[flow_uuid]


class MemoryBackend(base.Backend):
    """Keeps logbooks in this process's memory."""

    def __init__(self, conf: Any = None) -> None:
        super().__init__(conf or {"connection": "memory://"})
        self._store = _Store()

    def get_connection(self) -> MemoryConnection:
        return MemoryConnection(self._store)
