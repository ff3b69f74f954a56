"""What these tests look at on the host, read with ``ip`` (not pyroute2),
so the tasks are checked by a different tool than the one they use."""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest


def require_root() -> None:
    if os.geteuid() != 0:
        _unavailable("root (network namespaces and links)")


def _unavailable(what: str) -> None:
    reason = f"needs {what}"
    if os.environ.get("OPSFLOW_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (OPSFLOW_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def unique_tenant() -> str:
    """A tenant name no other test (or test run) uses: t + 9 hex digits."""
    return "t" + uuid.uuid4().hex[:9]


def netns_names() -> frozenset[str]:
    out = subprocess.run(
        ["ip", "-j", "netns", "list"], capture_output=True, text=True, check=True
    ).stdout
    return frozenset(entry["name"] for entry in json.loads(out or "[]"))


def links(netns: str | None = None) -> frozenset[tuple]:
    """``(name, up, IPv4 addresses)`` of every link (in ``netns``, if given)."""
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    out = subprocess.run(
        [*prefix, "-j", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
    return frozenset(
        (
            link["ifname"],
            "UP" in link.get("flags", []),
            tuple(
                sorted(
                    f"{a['local']}/{a['prefixlen']}"
                    for a in link["addr_info"]
                    if a["family"] == "inet"  # IPv6 link-local comes and goes
                )
            ),
        )
        for link in json.loads(out or "[]")
    )


def network_snapshot() -> dict:
    names = netns_names()
    return {
        "netns": names,
        "links": links(),
        "inside": {name: links(name) for name in sorted(names)},
    }
