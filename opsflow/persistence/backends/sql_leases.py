"""Run leases in the SQL store: who owns a run, and until when.

Mixed into :class:`~opsflow.persistence.backends.impl_sqlalchemy.SQLAlchemyConnection`,
which provides ``_engine``, ``_begin()`` and ``_backend``; the rules about
leases (expiry, heartbeat, generations) live in ``opsflow.persistence.leases``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from opsflow import exceptions
from opsflow.persistence.backends.sql_schema import error_text, lease_row, run_leases
from opsflow.persistence.leases import Lease

__all__ = ["LeaseRows"]


class LeaseRows:
    """Reads and writes the ``opsflow_run_leases`` table."""

    _engine: sa.Engine
    _backend: Any

    def _begin(self) -> Any:
        raise NotImplementedError

    def insert_lease(self, lease: Lease) -> bool:
        try:
            with self._engine.begin() as conn:
                conn.execute(run_leases.insert(), lease_row(lease))
        except sa.exc.IntegrityError:
            return False
        except sa.exc.SQLAlchemyError as exc:
            raise exceptions.StorageFailure(
                f"persistence store {self._backend.safe_url}: {error_text(exc)}"
            ) from exc
        return True

    def get_lease(self, flow_uuid: str) -> Lease | None:
        with self._begin() as conn:
            row = conn.execute(
                run_leases.select().where(run_leases.c.flow_uuid == flow_uuid)
            ).first()
        return None if row is None else _lease_of(row)

    def replace_lease(self, old_token: str, lease: Lease) -> bool:
        with self._begin() as conn:
            return bool(
                conn.execute(
                    run_leases.update().where(
                        run_leases.c.flow_uuid == lease.flow_uuid,
                        run_leases.c.token == old_token,
                    ),
                    lease_row(lease),
                ).rowcount
            )

    def claim_lease(
        self, flow_uuid: str, successor: Callable[[Lease | None], Lease]
    ) -> Lease:
        """Replace the lease of ``flow_uuid`` by ``successor(current)`` atomically."""
        for _attempt in range(5):
            try:
                with self._engine.begin() as conn:
                    row = conn.execute(
                        run_leases.select()
                        .where(run_leases.c.flow_uuid == flow_uuid)
                        .with_for_update()
                    ).first()
                    current = None if row is None else _lease_of(row)
                    lease = successor(current)
                    if row is None:
                        conn.execute(run_leases.insert(), lease_row(lease))
                    else:
                        conn.execute(
                            run_leases.update().where(
                                run_leases.c.flow_uuid == flow_uuid
                            ),
                            lease_row(lease),
                        )
                return lease
            except sa.exc.IntegrityError:
                continue  # inserted by another claimer meanwhile: read it again
            except sa.exc.SQLAlchemyError as exc:
                raise exceptions.StorageFailure(
                    f"persistence store {self._backend.safe_url}: {error_text(exc)}"
                ) from exc
        raise exceptions.StorageFailure(f"run {flow_uuid}: lease claim kept racing")

    def renew_lease(
        self, flow_uuid: str, token: str, heartbeat_at: float, expires_at: float
    ) -> bool:
        with self._begin() as conn:
            return bool(
                conn.execute(
                    run_leases.update().where(
                        run_leases.c.flow_uuid == flow_uuid,
                        run_leases.c.token == token,
                    ),
                    {"heartbeat_at": heartbeat_at, "expires_at": expires_at},
                ).rowcount
            )

    def delete_lease(self, flow_uuid: str, token: str) -> None:
        with self._begin() as conn:
            conn.execute(
                run_leases.delete().where(
                    run_leases.c.flow_uuid == flow_uuid, run_leases.c.token == token
                )
            )


def _lease_of(row: Any) -> Lease:
    return Lease(
        flow_uuid=row.flow_uuid,
        host=row.host,
        pid=row.pid,
        token=row.token,
        heartbeat_at=row.heartbeat_at,
        expires_at=row.expires_at,
        proc_start=row.proc_start,
    )
