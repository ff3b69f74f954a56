"""Ready-made snapshots of a Linux host for :func:`opsflow.testing.check_reverts`.

Each returns plain, comparable values (dicts and frozensets), so two
snapshots compare with ``==`` and :func:`~opsflow.testing.describe_difference`
can say what changed. Combine them in a dict::

    def snapshot():
        return {
            "files": snapshots.files(workdir_parent),
            "processes": snapshots.processes("my-service"),
            "ports": snapshots.listening_ports(),
        }
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import stat
from collections.abc import Iterable

__all__ = ["files", "listening_ports", "processes"]


def files(root: str) -> dict[str, tuple[str, int, str]]:
    """Everything under ``root``: ``{relative path: (kind, mode, sha256)}``.

    ``kind`` is ``dir``, ``file``, ``link`` or ``other``; the hash is of a
    file's bytes or a link's target (empty for the rest). A missing ``root``
    gives ``{}``.
    """
    found: dict[str, tuple[str, int, str]] = {}
    for directory, subdirs, names in os.walk(root):
        for name in sorted(subdirs) + sorted(names):
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            info = os.lstat(path)
            mode = stat.S_IMODE(info.st_mode)
            if stat.S_ISLNK(info.st_mode):
                digest = hashlib.sha256(os.readlink(path).encode()).hexdigest()
                found[relative] = ("link", mode, digest)
            elif stat.S_ISDIR(info.st_mode):
                found[relative] = ("dir", mode, "")
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
                found[relative] = ("file", mode, digest)
            else:
                found[relative] = ("other", mode, "")
    return found


def processes(
    needle: str | None = None, cwd_under: str | None = None
) -> frozenset[tuple[int, str]]:
    """Live processes as ``(pid, command line)``.

    Only those whose command line contains ``needle`` and (if given) whose
    working directory is ``cwd_under`` or below it (a directory removed
    since still counts): on a shared host, that picks the processes a
    flow started in its own directories and no one else's.

    Zombies are left out: they have exited and hold nothing (no port, no
    file); init reaps them in its own time. The calling process is left out.
    """
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue  # it ended while we looked
        if state in ("Z", "X") or not cmdline:
            continue
        if needle is not None and needle not in cmdline:
            continue
        if cwd_under is not None and not _cwd_under(entry, cwd_under):
            continue
        found.add((int(entry), cmdline.strip()))
    return frozenset(found)


def listening_ports(
    netns_pid: int | str = "self", pids: Iterable[int] | None = None
) -> frozenset[tuple[str, int]]:
    """TCP sockets in LISTEN state as ``(address, port)`` (IPv4 and IPv6).

    Read from ``/proc/<netns_pid>/net/tcp{,6}``: the network namespace of
    that process (by default this one's). With ``pids``, only the sockets
    those processes hold open.
    """
    owned = None if pids is None else _socket_inodes(pids)
    found = set()
    for table, width in (("tcp", 8), ("tcp6", 32)):
        try:
            with open(f"/proc/{netns_pid}/net/{table}", encoding="ascii") as handle:
                rows = handle.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if fields[3] != "0A":  # TCP_LISTEN
                continue
            if owned is not None and fields[9] not in owned:
                continue
            address, port = fields[1].split(":")
            found.add((_address(address, width), int(port, 16)))
    return frozenset(found)


def _cwd_under(pid: str, root: str) -> bool:
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd").removesuffix(" (deleted)")
    except OSError:
        return False
    root = os.path.abspath(root)
    return cwd == root or cwd.startswith(root + os.sep)


def _socket_inodes(pids: Iterable[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _address(hexa: str, width: int) -> str:
    raw = bytes.fromhex(hexa)
    # /proc prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words if width == 32 else words[:4]))
