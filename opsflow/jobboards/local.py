"""The default jobboard: the submitting process runs the run itself, at once.

Nothing waits anywhere and no other process is involved, so it needs no
service: ``opsflow-run --submit`` then behaves like a plain run that was
stored first (and can be resumed with ``--resume`` if it is killed).
"""

from __future__ import annotations

from typing import Any

from opsflow.jobboards.base import Jobboard
from opsflow.persistence import leases

__all__ = ["LocalJobboard"]


class LocalJobboard(Jobboard):
    """Runs each posted run in the posting process before returning."""

    name = "local"

    def post(self, flow_uuid: str) -> dict[str, Any]:
        from opsflow.jobboards import runs

        backend = self.open_store()
        try:
            connection = backend.get_connection()
            lease = leases.claim(connection, flow_uuid)
            with leases.Heartbeat(connection, lease):
                state = runs.run_stored(self.service, backend, flow_uuid, lease)
        finally:
            backend.close()
        return {"run_id": flow_uuid, "jobboard": self.name, "state": state}
