"""Flow files found in ``[DEFAULT] flow_dirs``, and their flow factories.

Every ``*.yaml`` (or ``*.yml``) file directly in one of the directories
defines one flow, named by its ``name:`` key. A :class:`YamlFlowFactory` is
what the ``opsflow.flows`` namespace hands out for such a flow: called with
the run's store, it reads and checks the file again (so a run always uses the
file as it is on disk, and records its sha256), refuses missing inputs and
builds the flow.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opsflow.plugins.loader import Namespace
from opsflow.yamlflows import document
from opsflow.yamlflows.build import build, missing_inputs
from opsflow.yamlflows.errors import FlowFileError
from opsflow.yamlflows.spec import FlowFile

__all__ = ["FlowFileEntry", "YamlFlowFactory", "discover", "file_sha256"]

SUFFIXES = (".yaml", ".yml")


def discover(flow_dirs: Iterable[str]) -> list[str]:
    """The flow files of ``flow_dirs``, directory by directory, sorted by name.

    A directory that does not exist is skipped (the defaults often do not).
    """
    found: list[str] = []
    for directory in flow_dirs:
        directory = os.path.abspath(os.path.expanduser(directory))
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            if name.endswith(SUFFIXES) and os.path.isfile(path):
                found.append(path)
    return found


def dirs_stamp(flow_dirs: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """What changes when a flow file of ``flow_dirs`` is added, removed,
    renamed or written: each directory's and flow file's modification time."""
    stamp: list[tuple[str, int]] = []
    for directory in flow_dirs:
        directory = os.path.abspath(os.path.expanduser(directory))
        try:
            stamp.append((directory, os.stat(directory).st_mtime_ns))
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name.endswith(SUFFIXES):
                        stamp.append((entry.path, entry.stat().st_mtime_ns))
        except OSError:
            continue
    return tuple(sorted(stamp))


def file_sha256(path: str) -> str | None:
    """The sha256 of ``path``'s bytes; None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


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
