"""The flow files of ``[DEFAULT] flow_dirs``: found, stamped and hashed.

Kept apart from the rest of the package (and importing none of it): every
``opsflow-run`` looks in ``flow_dirs``, and most find no file there, so
finding none costs a directory listing, not the YAML loader and the JSON
Schema checks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable

__all__ = ["SUFFIXES", "dirs_stamp", "discover", "file_sha256"]

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
