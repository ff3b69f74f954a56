"""What every jobboard driver offers: post a stored run, tell where it is."""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from oslo_config import cfg

    from opsflow.runs.service import RunService

__all__ = ["Jobboard"]


class Jobboard(abc.ABC):
    """A place where stored runs wait until some process runs them.

    ``service`` builds the engines of the runs it takes (with the plugins
    of the process that loaded the jobboard).
    """

    #: The entry-point name, recorded in each run it takes.
    name = ""

    def __init__(self, conf: cfg.ConfigOpts, service: RunService) -> None:
        self.conf = conf
        self.service = service

    @abc.abstractmethod
    def post(self, flow_uuid: str) -> dict[str, Any]:
        """Queue the stored run ``flow_uuid``; returns what to tell the user."""

    def jobs(self, flow_uuids: list[str]) -> dict[str, dict[str, Any]]:
        """The queue's view of these runs (status, attempts), by run id."""
        return {}

    def open_store(self) -> Any:
        """The run store of ``conf``, with this jobboard's plugins."""
        from opsflow.runs import store

        return store.open_backend(self.conf, self.service.catalog)

    def close(self) -> None:
        """Let go of connections."""
