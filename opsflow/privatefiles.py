"""Files and directories that hold run data, readable by their owner only.

The run store, the traceback files and the log file hold what tasks
returned and raised, so opsflow creates them 0600, and every directory it
creates on the way (``state_path`` and the directories above it that do not
exist yet, a log file's directory) 0700: the umask can only narrow these
modes, never widen them. Modes of files and directories that already exist
are left as the operator set them.
"""

from __future__ import annotations

import os

__all__ = ["DIR_MODE", "FILE_MODE", "make_private_dirs", "open_private"]

#: Mode of the directories opsflow creates.
DIR_MODE = 0o700
#: Mode of the files opsflow creates.
FILE_MODE = 0o600


def make_private_dirs(path: str) -> None:
    """Create directory ``path`` and its missing parents, each 0700.

    ``os.makedirs(mode=...)`` gives the mode to the last directory only:
    under a permissive umask (``000``) its parents would be world-writable,
    and anyone could then swap the state directory for one of their own.

    :raises OSError: a component exists and is not a directory, or a
        directory cannot be created.
    """
    path = os.path.abspath(path)
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, DIR_MODE)
        except FileExistsError:
            if not os.path.isdir(directory):  # a file, or a dangling symlink
                raise
            # Made by another process meanwhile.


def open_private(path: str, flags: int = os.O_WRONLY | os.O_CREAT) -> int:
    """``os.open`` that creates ``path`` 0600 (its directory made private)."""
    make_private_dirs(os.path.dirname(os.path.abspath(path)))
    return os.open(path, flags, FILE_MODE)
