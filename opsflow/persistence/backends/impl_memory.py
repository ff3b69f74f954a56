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
        #: flow uuid -> (logbook uuid, the stored flow detail)
        self.flows: dict[str, tuple[str, models.FlowDetail]] = {}
        #: atom uuid -> (flow uuid, the stored atom detail)
        self.atoms: dict[str, tuple[str, models.AtomDetail]] = {}
        #: flow uuid -> its run lease
        self.leases: dict[str, Any] = {}


def _not_found(kind: str, uuid: str) -> exceptions.NotFound:
    return exceptions.NotFound(f"No {kind} found with uuid '{uuid}'")


class MemoryConnection(base.Connection):
    """Reads and writes the backend's in-process store."""

    def __init__(self, store: _Store) -> None:
        self._store = store

    def upgrade(self) -> None:
        """Nothing to migrate in memory."""

    # -- writing ------------------------------------------------------------
    def _put_atom(
        self, flow: models.FlowDetail, atom_detail: models.AtomDetail
    ) -> None:
        stored = copy.deepcopy(atom_detail)
        flow.add(stored)
        self._store.atoms[atom_detail.uuid] = (flow.uuid, stored)

    def _put_flow(
        self, book_uuid: str, flow_detail: models.FlowDetail
    ) -> models.FlowDetail:
        known = self._store.flows.get(flow_detail.uuid)
        if known is None:
            stored = copy.deepcopy(flow_detail.copy(retain_contents=False))
            self._store.books[book_uuid].add(stored)
            self._store.flows[flow_detail.uuid] = (book_uuid, stored)
        else:
            stored = known[1]
            stored.merge(flow_detail, deep_copy=True)
        stored.updated_at = models._now()
        for atom_detail in flow_detail:
            self._put_atom(stored, atom_detail)
        return stored

    def save_logbook(self, book: models.LogBook) -> models.LogBook:
        with self._store.lock:
            stored = self._store.books.get(book.uuid)
            if stored is None:
                stored = copy.deepcopy(book.copy(retain_contents=False))
                self._store.books[book.uuid] = stored
            else:
                stored.merge(book, deep_copy=True)
            for flow_detail in book:
                self._put_flow(book.uuid, flow_detail)
            stored.updated_at = book.updated_at
            return copy.deepcopy(stored)

    def _stored_flow(self, flow_uuid: str) -> models.FlowDetail:
        known = self._store.flows.get(flow_uuid)
        if known is None:
            raise exceptions.NotFound(
                f"Flow detail '{flow_uuid}' is in no saved logbook"
            )
        return known[1]

    def update_flow_details(self, flow_detail: models.FlowDetail) -> models.FlowDetail:
        with self._store.lock:
            known = self._store.flows.get(flow_detail.uuid)
            if known is None:
                raise exceptions.NotFound(
                    f"Flow detail '{flow_detail.uuid}' is in no saved logbook"
                )
            return copy.deepcopy(self._put_flow(known[0], flow_detail))

    def update_atom_details(self, atom_detail: models.AtomDetail) -> models.AtomDetail:
        with self._store.lock:
            known = self._store.atoms.get(atom_detail.uuid)
            if known is None:
                raise _not_found("atom detail", atom_detail.uuid)
            flow = self._stored_flow(known[0])
            self._put_atom(flow, atom_detail)
            return copy.deepcopy(atom_detail)

    def save_flow_detail(self, flow_detail: models.FlowDetail) -> None:
        with self._store.lock:
            stored = self._stored_flow(flow_detail.uuid)
            stored.state = flow_detail.state
            stored.meta = copy.deepcopy(flow_detail.meta)
            stored.updated_at = models._now()

    def save_atom_detail(
        self, flow_detail: models.FlowDetail, atom_detail: models.AtomDetail
    ) -> None:
        with self._store.lock:
            stored = self._stored_flow(flow_detail.uuid)
            self._put_atom(stored, atom_detail)
            stored.updated_at = models._now()

    # -- reading ------------------------------------------------------------
    def get_logbook(self, book_uuid: str, lazy: bool = False) -> models.LogBook:
        with self._store.lock:
            book = self._store.books.get(book_uuid)
            if book is None:
                raise _not_found("logbook", book_uuid)
            return copy.deepcopy(book.copy(retain_contents=not lazy))

    def get_logbooks(self, lazy: bool = False) -> Iterator[models.LogBook]:
        with self._store.lock:
            books = [
                copy.deepcopy(book.copy(retain_contents=not lazy))
                for book in self._store.books.values()
            ]
        return iter(books)

    def get_flows_for_book(
        self, book_uuid: str, lazy: bool = False
    ) -> Iterator[models.FlowDetail]:
        book = self.get_logbook(book_uuid)
        return iter([fd.copy(retain_contents=False) if lazy else fd for fd in book])

    def get_flow_details(self, flow_uuid: str, lazy: bool = False) -> models.FlowDetail:
        with self._store.lock:
            known = self._store.flows.get(flow_uuid)
            if known is None:
                raise _not_found("flow detail", flow_uuid)
            return copy.deepcopy(known[1].copy(retain_contents=not lazy))

    def get_atoms_for_flow(self, flow_uuid: str) -> Iterator[models.AtomDetail]:
        return iter(self.get_flow_details(flow_uuid))

    def get_atom_details(self, atom_uuid: str) -> models.AtomDetail:
        with self._store.lock:
            known = self._store.atoms.get(atom_uuid)
            if known is None:
                raise _not_found("atom detail", atom_uuid)
            return copy.deepcopy(known[1])

    def get_logbook_of(self, flow_uuid: str) -> models.LogBook:
        with self._store.lock:
            known = self._store.flows.get(flow_uuid)
        if known is None:
            raise _not_found("flow detail", flow_uuid)
        return self.get_logbook(known[0])

    # -- deleting ------------------------------------------------------------
    def destroy_logbook(self, book_uuid: str) -> None:
        with self._store.lock:
            book = self._store.books.pop(book_uuid, None)
            if book is None:
                raise _not_found("logbook", book_uuid)
            for flow_detail in book:
                self._store.flows.pop(flow_detail.uuid, None)
                for atom_detail in flow_detail:
                    self._store.atoms.pop(atom_detail.uuid, None)

    def clear_all(self) -> None:
        with self._store.lock:
            self._store.books.clear()
            self._store.flows.clear()
            self._store.atoms.clear()
            self._store.leases.clear()

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
