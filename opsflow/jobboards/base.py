"""What every jobboard driver offers: post a stored run, tell where it is."""

from __future__ import annotations

import abc
from typing import Any

__all__ = ["Jobboard"]


class Jobboard(abc.ABC):
    """A place where stored runs wait until some process runs them."""

    #: The entry-point name, recorded in each run it takes.
    name = ""

    def __init__(self, conf: Any) -> None:
        self.conf = conf

    @abc.abstractmethod
    def post(self, flow_uuid: str) -> dict[str, Any]:
        """Queue the stored run ``flow_uuid``; returns what to tell the user."""

    def jobs(self, flow_uuids: list[str]) -> dict[str, dict[str, Any]]:
        """The queue's view of these runs (status, attempts), by run id."""
        return {}

    def close(self) -> None:
        """Let go of connections."""
