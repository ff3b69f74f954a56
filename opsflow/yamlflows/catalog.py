"""Flow files found in ``[DEFAULT] flow_dirs``, and their flow factories.

Every ``*.yaml`` (or ``*.yml``) file directly in one of the directories
defines one flow, named by its ``name:`` key. A :class:`YamlFlowFactory` is
what the ``opsflow.flows`` namespace hands out for such a flow: called with
the run's store, it reads and checks the file again (so a run always uses the
file as it is on disk, and records its sha256), refuses missing inputs and
builds the flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsflow.plugins.loader import Namespace
from opsflow.yamlflows import document
from opsflow.yamlflows.build import build, missing_inputs
from opsflow.yamlflows.errors import FlowFileError
from opsflow.yamlflows.files import SUFFIXES, dirs_stamp, discover, file_sha256
from opsflow.yamlflows.spec import FlowFile

__all__ = [
    "SUFFIXES",
    "FlowFileEntry",
    "YamlFlowFactory",
    "dirs_stamp",
    "discover",
    "file_sha256",
]


@dataclass(frozen=True)
class FlowFileEntry:
    """A file of ``flow_dirs`` and the flow name it declares (None: unreadable)."""

    path: str
    name: str | None

    @classmethod
    def of(cls, path: str) -> FlowFileEntry:
        return cls(path, document.read_name(path))


class YamlFlowFactory:
    """``f(**store) -> Flow`` for one flow file, its steps' tasks from ``tasks``."""

    def __init__(self, path: str, name: str, tasks: Namespace[type]) -> None:
        self.path = path
        self.name = name
        self._tasks = tasks
        #: ``{"kind": "yaml", "path", "sha256"}`` of the file last built.
        self.source: dict[str, str] | None = None
        self.__doc__ = ""

    def check(self) -> FlowFile:
        """Read and check the file, building its flow once (nothing runs).

        :raises FlowFileError: the file is not a valid flow.
        """
        flow_file = document.read(self.path, task_names=self._tasks.names())
        build(flow_file, self._tasks.load)
        self.__doc__ = flow_file.description or f"YAML flow {self.path}"
        return flow_file

    def preview(self) -> tuple[FlowFile, Any]:
        """The checked file and its flow, built with no store (nothing runs).

        :raises FlowFileError: the file is not a valid flow.
        """
        flow_file = document.read(self.path, task_names=self._tasks.names())
        flow = build(flow_file, self._tasks.load)
        self.__doc__ = flow_file.description or f"YAML flow {self.path}"
        return flow_file, flow

    def inputs(self) -> FlowFile | None:
        """The file's records (for its declared inputs); None if unreadable."""
        try:
            return document.read(self.path)
        except FlowFileError:
            return None

    def __call__(self, **store: Any) -> Any:
        flow_file = document.read(self.path, task_names=self._tasks.names())
        if flow_file.name != self.name:
            raise FlowFileError(
                flow_file.flow.mark,
                f"the file now names its flow {flow_file.name!r}, not {self.name!r}",
            )
        missing_inputs(flow_file, store)
        flow = build(flow_file, self._tasks.load, store=store)
        self.source = flow_file.source
        self.__doc__ = flow_file.description
        return flow

    def __repr__(self) -> str:
        return f"<YamlFlowFactory {self.name} from {self.path}>"
