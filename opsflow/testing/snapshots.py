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


def processes(needle: str | None = None) -> frozenset[tuple[int, str]]:
    """Live processes as ``(pid, command line)``, those containing ``needle``.

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
        if needle is None or needle in cmdline:
            found.add((int(entry), cmdline.strip()))
    return frozenset(found)


def listening_ports(netns_pid: int | str = "self") -> frozenset[tuple[str, int]]:
    """TCP sockets in LISTEN state as ``(address, port)`` (IPv4 and IPv6).

    Read from ``/proc/<netns_pid>/net/tcp{,6}``: the network namespace of
    that process (by default this one's).
    """
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
            address, port = fields[1].split(":")
            found.add((_address(address, width), int(port, 16)))
    return frozenset(found)


def _address(hexa: str, width: int) -> str:
    raw = bytes.fromhex(hexa)
    # /proc prints each 32-bit word in host (little-endian) order.
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words if width == 32 else words[:4]))
