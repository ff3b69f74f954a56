"""What every persistence backend provides.

A backend is built from a configuration mapping (``{"connection": URL,
...}``); ``get_connection()`` gives a :class:`Connection` that reads and
writes logbooks, flow details and atom details. Engines write through
``save_atom_detail`` and ``save_flow_detail`` on every state change.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

from opsflow.persistence import models

__all__ = ["Backend", "Connection", "ConnectionSource"]


class Connection(abc.ABC):
    """One connection to a backend's store.

    The methods keep TaskFlow's names and meanings, so that programs and
    tools written for TaskFlow's persistence work unchanged; opsflow's
    engine writes through the two cheaper ones at the end
    (:meth:`save_atom_detail`, :meth:`save_flow_detail`), which touch one
    record each.
    """

    #: ``(flow_uuid, token)`` set by a fenced backend: a store with leases
    #: refuses each write once that token no longer holds the run's lease.
    fence: tuple[str, str] | None = None

    @abc.abstractmethod
    def upgrade(self) -> None:
        """Create or migrate the schema to the current version."""

    @abc.abstractmethod
    def save_logbook(self, book: models.LogBook) -> models.LogBook:
        """Save a logbook with its flow and atom details.

        Flow and atom details already stored and not in ``book`` are kept:
        saving merges.
        """

    @abc.abstractmethod
    def get_logbook(self, book_uuid: str, lazy: bool = False) -> models.LogBook:
        """The logbook with this uuid (``NotFound`` if none); ``lazy``: no flows."""

    @abc.abstractmethod
    def get_logbooks(self, lazy: bool = False) -> Iterator[models.LogBook]:
        """Every logbook."""

    @abc.abstractmethod
    def get_flows_for_book(
        self, book_uuid: str, lazy: bool = False
    ) -> Iterator[models.FlowDetail]:
        """The flow details of one logbook (``NotFound`` if there is no such book)."""

    @abc.abstractmethod
    def get_flow_details(self, flow_uuid: str, lazy: bool = False) -> models.FlowDetail:
        """The flow detail (run) with this uuid (``NotFound``); ``lazy``: no atoms."""

    def get_many_flow_details(
        self, flow_uuids: Sequence[str]
    ) -> dict[str, models.FlowDetail]:
        """The runs with these uuids, with their atoms, by uuid (an unknown
        uuid is left out). Backends that can read them at once override it."""
        from opsflow.exceptions import NotFound

        found: dict[str, models.FlowDetail] = {}
        for flow_uuid in flow_uuids:
            try:
                found[flow_uuid] = self.get_flow_details(flow_uuid)
            except NotFound:
                continue
        return found

    @abc.abstractmethod
    def get_atoms_for_flow(self, flow_uuid: str) -> Iterator[models.AtomDetail]:
        """The atom details of one flow detail (``NotFound`` if there is none)."""

    @abc.abstractmethod
    def get_atom_details(self, atom_uuid: str) -> models.AtomDetail:
        """The atom detail with this uuid (``NotFound`` if none)."""

    @abc.abstractmethod
    def update_flow_details(self, flow_detail: models.FlowDetail) -> models.FlowDetail:
        """Save a stored flow detail and its atom details (new ones are added).

        ``NotFound`` if the flow detail was never saved in a logbook.
        """

    @abc.abstractmethod
    def update_atom_details(self, atom_detail: models.AtomDetail) -> models.AtomDetail:
        """Save a stored atom detail (``NotFound`` if it was never saved)."""

    @abc.abstractmethod
    def save_atom_detail(
        self, flow_detail: models.FlowDetail, atom_detail: models.AtomDetail
    ) -> None:
        """Save one atom detail of a stored ``flow_detail`` (added if new)."""

    @abc.abstractmethod
    def save_flow_detail(self, flow_detail: models.FlowDetail) -> None:
        """Save a stored flow detail's own fields (state, meta), not its atoms."""

    @abc.abstractmethod
    def destroy_logbook(self, book_uuid: str) -> None:
        """Delete a logbook and everything in it."""

    @abc.abstractmethod
    def clear_all(self) -> None:
        """Delete every logbook."""

    # -- finding runs (defaults walk every logbook; SQL backends query) ----
    def get_logbook_of(self, flow_uuid: str) -> models.LogBook:
        """The logbook holding the flow detail ``flow_uuid`` (``NotFound``)."""
        from opsflow.exceptions import NotFound

        for book in self.get_logbooks():
            if book.find(flow_uuid) is not None:
                return book
        raise NotFound(f"No flow detail found with uuid '{flow_uuid}'")

    def list_flow_details(
        self, limit: int | None = None
    ) -> list[tuple[models.FlowDetail, str]]:
        """``(flow detail, logbook uuid)`` pairs, latest ``updated_at`` first."""
        found = [(fd, book.uuid) for book in self.get_logbooks() for fd in book]
        found.sort(key=lambda pair: pair[0].updated_at, reverse=True)
        return found[:limit] if limit else found

    # -- run leases (see opsflow.persistence.leases) --------------------------
    def insert_lease(self, lease: Any) -> bool:
        """Store ``lease`` unless its run already has one; True if stored."""
        raise NotImplementedError(f"{type(self).__name__} keeps no run leases")

    def get_lease(self, flow_uuid: str) -> Any:
        """The lease of ``flow_uuid``, or None."""
        raise NotImplementedError(f"{type(self).__name__} keeps no run leases")

    def replace_lease(self, old_token: str, lease: Any) -> bool:
        """Swap in ``lease`` if the stored one still has ``old_token``."""
        raise NotImplementedError(f"{type(self).__name__} keeps no run leases")

    def renew_lease(
        self, flow_uuid: str, token: str, heartbeat_at: float, expires_at: float
    ) -> bool:
        """Move a lease's heartbeat and expiry on; False if it is not ours."""
        raise NotImplementedError(f"{type(self).__name__} keeps no run leases")

    def delete_lease(self, flow_uuid: str, token: str) -> None:
        """Drop the lease if it is still ours."""
        raise NotImplementedError(f"{type(self).__name__} keeps no run leases")

    def validate(self) -> None:
        """Check the store can be reached."""

    def close(self) -> None:
        """Release the connection."""


class Backend(abc.ABC):
    """A persistence backend, configured by a mapping with a ``connection`` URL."""

    def __init__(self, conf: Mapping[str, Any]) -> None:
        self._conf = dict(conf)

    @classmethod
    def check_available(cls, conf: Mapping[str, Any]) -> None:
        """Raise ``ServiceUnavailable`` (``MissingPackage`` for a driver that
        is not installed) when this backend cannot be used here; opens and
        writes nothing (``opsflow-run --dry-run`` calls it)."""

    @abc.abstractmethod
    def get_connection(self) -> Connection:
        """A connection to this backend."""

    def close(self) -> None:
        """Release every resource of the backend."""


class ConnectionSource(Protocol):
    """Anything that hands out connections: a backend, or a fenced one
    (:class:`~opsflow.persistence.leases.FencedBackend`)."""

    def get_connection(self) -> Connection: ...
