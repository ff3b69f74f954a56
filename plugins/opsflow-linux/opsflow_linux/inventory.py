"""An inventory file: one JSON record per line, one line per provisioned thing.

:class:`InventoryRecord` appends a line (with a fresh ``id``) under an
exclusive lock; its revert removes exactly that line, then the file and the
directory if the task created them and nothing else is in them.
:class:`InventoryRemove` (deprovisioning) removes the lines that match.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from opsflow import task
from opsflow_linux.fill import fill

__all__ = ["InventoryRecord", "InventoryRemove", "read_inventory"]


class InventoryRecord(task.Task):
    """Append ``record`` (string values filled) as one JSON line to ``path``.

    A record with the same items already there is kept as it is (the
    result's ``changed`` is False, and the revert leaves it). The result is
    ``{"path", "id", "created_file", "created_dir", "changed"}``.
    """

    def __init__(self, path: str, record: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.record = dict(record)

    def execute(self, **values: Any) -> dict[str, Any]:
        path = os.path.abspath(fill(self.path, values))
        record = {
            key: fill(value, values) if isinstance(value, str) else value
            for key, value in self.record.items()
        }
        for entry in read_inventory(path):
            if {k: v for k, v in entry.items() if k != "id"} == record:
                return {
                    "path": path,
                    "id": entry.get("id"),
                    "created_file": False,
                    "created_dir": None,
                    "changed": False,
                }
        record_id = uuid.uuid4().hex
        directory = os.path.dirname(path)
        created_dir = None
        if not os.path.isdir(directory):
            created_dir = _outermost_missing(directory)
            os.makedirs(directory, 0o700)
        created_file = not os.path.exists(path)
        line = json.dumps({"id": record_id, **record}, sort_keys=True)
        with _locked(path) as handle:
            handle.seek(0, os.SEEK_END)
            handle.write(line + "\n")
        return {
            "path": path,
            "id": record_id,
            "created_file": created_file,
            "created_dir": created_dir,
            "changed": True,
        }

    def revert(self, result: Any = None, **values: Any) -> None:
        if not isinstance(result, dict) or result.get("changed") is False:
            return
        path = result["path"]
        if os.path.exists(path):
            left = _remove_lines(path, lambda entry: entry.get("id") == result["id"])
            if left == 0 and result["created_file"]:
                os.remove(path)
        created_dir = result["created_dir"]
        if created_dir:
            _remove_empty_dirs(os.path.dirname(path), created_dir)


class InventoryRemove(task.Task):
    """Remove from ``path`` every record whose items include ``match``.

    For deprovisioning; nothing to give back on revert.
    """

    def __init__(self, path: str, match: Mapping[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.match = dict(match)

    def execute(self, **values: Any) -> dict[str, Any]:
        path = os.path.abspath(fill(self.path, values))
        match = {
            key: fill(value, values) if isinstance(value, str) else value
            for key, value in self.match.items()
        }
        if not os.path.exists(path):
            return {"path": path, "removed": 0, "changed": False}
        before = len(read_inventory(path))
        left = _remove_lines(
            path, lambda entry: all(entry.get(k) == v for k, v in match.items())
        )
        return {"path": path, "removed": before - left, "changed": before > left}


def read_inventory(path: str) -> list[dict[str, Any]]:
    """Every record in the inventory file ``path`` (none if it is missing)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return [json.loads(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def _locked(path: str) -> Iterator[IO[str]]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield handle


def _remove_lines(path: str, drop: Callable[[dict[str, Any]], bool]) -> int:
    """Drop the records ``drop`` selects, in place, under the lock; count left."""
    with _locked(path) as handle:
        lines = [line for line in handle.read().splitlines() if line.strip()]
        kept = [line for line in lines if not drop(json.loads(line))]
        handle.seek(0)
        handle.write("".join(line + "\n" for line in kept))
        handle.truncate()
    return len(kept)


def _outermost_missing(directory: str) -> str:
    outermost = directory
    while not os.path.exists(os.path.dirname(outermost)):
        outermost = os.path.dirname(outermost)
    return outermost


def _remove_empty_dirs(directory: str, outermost: str) -> None:
    """rmdir from ``directory`` up to ``outermost`` while they are empty."""
    current = directory
    while True:
        try:
            os.rmdir(current)
        except FileNotFoundError:
            pass
        except OSError:
            return  # not empty: something else lives there now
        if current == outermost or len(current) <= len(outermost):
            return
        current = os.path.dirname(current)
