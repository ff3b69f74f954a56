"""Network namespaces, veth pairs, addresses and links, through pyroute2 (netlink).

pyroute2 is the netlink library OpenStack Neutron uses; no ``ip`` command is
parsed. Every task checks for root first and, without it, fails with
:class:`NeedsRoot` before touching anything. Each revert undoes only what
its execute did (a namespace or link it created, an address it added, a
link it brought up) and does nothing when that is already gone, so running
a revert twice is harmless.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import types
from collections.abc import Iterator
from typing import Any

from opsflow import task
from opsflow_linux.fill import fill

__all__ = [
    "Address",
    "LinkUp",
    "Namespace",
    "NeedsRoot",
    "NetworkError",
    "RemoveNamespace",
    "VethPair",
    "namespace_exists",
    "remove_namespace",
]


@functools.cache
def _netlink_api() -> types.SimpleNamespace:
    """pyroute2, imported on first use so that listing plugins stays fast."""
    from pyroute2 import IPRoute, NetNS, netns
    from pyroute2.netlink.rtnl.ifinfmsg import IFF_UP

    return types.SimpleNamespace(
        IPRoute=IPRoute, NetNS=NetNS, netns=netns, IFF_UP=IFF_UP
    )


class NeedsRoot(PermissionError):
    """A network task ran without root; nothing was changed."""


class NetworkError(RuntimeError):
    """A namespace or link is not as the task needs it."""


def _require_root(task_name: str) -> None:
    if os.geteuid() != 0:
        raise NeedsRoot(
            f"{task_name} changes network namespaces and links, which needs root "
            "(CAP_NET_ADMIN); nothing was changed: run opsflow-run as root"
        )


def remove_namespace(name: str) -> None:
    """Delete the namespace ``name``, its veth links first.

    The kernel tears a namespace down in the background, and a veth pair
    with one end inside would linger on the host for a while; deleting the
    inner ends first removes each pair at once.
    """
    with _netlink_api().NetNS(name, flags=0) as ns:
        for link in ns.get_links():
            if link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") == "veth":
                ns.link("del", index=link["index"])
    _netlink_api().netns.remove(name)


def namespace_exists(name: str) -> bool:
    """A network namespace called ``name`` is mounted under /run/netns."""
    return name in _netlink_api().netns.listnetns()


@contextlib.contextmanager
def _netlink(namespace: str | None) -> Iterator[Any]:
    """A netlink socket in ``namespace`` (the host's when None); never creates it."""
    if namespace is None:
        with _netlink_api().IPRoute() as ipr:
            yield ipr
        return
    if not namespace_exists(namespace):
        raise NetworkError(f"network namespace {namespace} does not exist")
    with _netlink_api().NetNS(namespace, flags=0) as ns:
        yield ns


def _link_index(ipr: Any, ifname: str) -> int | None:
    found = ipr.link_lookup(ifname=ifname)
    return found[0] if found else None


class Namespace(task.Task):
    """Create the network namespace ``netns``; it must not exist yet."""

    def __init__(self, netns: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.netns = netns

    def execute(self, **values: Any) -> dict[str, Any]:
        _require_root(self.name)
        name = fill(self.netns, values)
        if namespace_exists(name):
            raise NetworkError(f"network namespace {name} already exists")
        _netlink_api().netns.create(name)
        return {"netns": name}

    def revert(self, result: Any = None, **values: Any) -> None:
        if isinstance(result, dict) and namespace_exists(result["netns"]):
            remove_namespace(result["netns"])


class RemoveNamespace(task.Task):
    """Delete the network namespace ``netns`` if it exists (deprovisioning)."""

    def __init__(self, netns: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.netns = netns

    def execute(self, **values: Any) -> dict[str, Any]:
        _require_root(self.name)
        name = fill(self.netns, values)
        existed = namespace_exists(name)
        if existed:
            remove_namespace(name)
        return {"netns": name, "removed": existed, "changed": existed}


class VethPair(task.Task):
    """Create the veth pair ``host``/``peer`` and move ``peer`` into ``netns``.

    Both links must not exist yet. Deleting either end deletes the pair,
    so the revert deletes ``host`` (if it is still there).
    """

    def __init__(self, host: str, peer: str, netns: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host = host
        self.peer = peer
        self.netns = netns

    def execute(self, **values: Any) -> dict[str, Any]:
        _require_root(self.name)
        host, peer = fill(self.host, values), fill(self.peer, values)
        namespace = fill(self.netns, values)
        if not namespace_exists(namespace):
            raise NetworkError(f"network namespace {namespace} does not exist")
        with _netlink_api().IPRoute() as ipr:
            for ifname in (host, peer):
                if _link_index(ipr, ifname) is not None:
                    raise NetworkError(f"a link called {ifname} already exists")
            ipr.link("add", ifname=host, kind="veth", peer={"ifname": peer})
            try:
                ipr.link("set", index=_link_index(ipr, peer), net_ns_fd=namespace)
            except BaseException:
                ipr.link("del", index=_link_index(ipr, host))
                raise
        return {"host": host, "peer": peer, "netns": namespace}

    def revert(self, result: Any = None, **values: Any) -> None:
        if not isinstance(result, dict):
            return
        with _netlink_api().IPRoute() as ipr:
            index = _link_index(ipr, result["host"])
            if index is not None:
                ipr.link("del", index=index)


class Address(task.Task):
    """Add ``address`` (CIDR, e.g. ``10.0.0.1/30``) to ``ifname``, in ``netns``.

    An address already there is left alone, then and on revert.
    """

    def __init__(
        self, ifname: str, address: str, netns: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.ifname = ifname
        self.address = address
        self.netns = netns

    def execute(self, **values: Any) -> dict[str, Any]:
        _require_root(self.name)
        ifname = fill(self.ifname, values)
        interface = ipaddress.ip_interface(fill(self.address, values))
        namespace = fill(self.netns, values) if self.netns else None
        with _netlink(namespace) as ipr:
            index = _link_index(ipr, ifname)
            if index is None:
                raise NetworkError(f"no link called {ifname}")
            added = not _has_address(ipr, index, interface)
            if added:
                ipr.addr(
                    "add",
                    index=index,
                    address=str(interface.ip),
                    prefixlen=interface.network.prefixlen,
                )
        return {
            "ifname": ifname,
            "address": str(interface),
            "netns": namespace,
            "added": added,
            "changed": added,
        }

    def revert(self, result: Any = None, **values: Any) -> None:
        if not isinstance(result, dict) or not result["added"]:
            return
        namespace = result["netns"]
        if namespace and not namespace_exists(namespace):
            return  # the namespace, and so the address, is gone
        interface = ipaddress.ip_interface(result["address"])
        with _netlink(namespace) as ipr:
            index = _link_index(ipr, result["ifname"])
            if index is not None and _has_address(ipr, index, interface):
                ipr.addr(
                    "del",
                    index=index,
                    address=str(interface.ip),
                    prefixlen=interface.network.prefixlen,
                )


class LinkUp(task.Task):
    """Bring the link ``ifname`` (in ``netns``) up; the revert brings it down
    again if it was down before."""

    def __init__(self, ifname: str, netns: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ifname = ifname
        self.netns = netns

    def execute(self, **values: Any) -> dict[str, Any]:
        _require_root(self.name)
        ifname = fill(self.ifname, values)
        namespace = fill(self.netns, values) if self.netns else None
        with _netlink(namespace) as ipr:
            index = _link_index(ipr, ifname)
            if index is None:
                raise NetworkError(f"no link called {ifname}")
            was_up = _is_up(ipr, index)
            if not was_up:
                ipr.link("set", index=index, state="up")
        return {
            "ifname": ifname,
            "netns": namespace,
            "was_up": was_up,
            "changed": not was_up,
        }

    def revert(self, result: Any = None, **values: Any) -> None:
        if not isinstance(result, dict) or result["was_up"]:
            return
        namespace = result["netns"]
        if namespace and not namespace_exists(namespace):
            return
        with _netlink(namespace) as ipr:
            index = _link_index(ipr, result["ifname"])
            if index is not None and _is_up(ipr, index):
                ipr.link("set", index=index, state="down")


def _is_up(ipr: Any, index: int) -> bool:
    (link,) = ipr.get_links(index)
    return bool(link["flags"] & _netlink_api().IFF_UP)


def _has_address(ipr: Any, index: int, interface: Any) -> bool:
    for entry in ipr.get_addr(index=index):
        if (
            entry.get_attr("IFA_ADDRESS") == str(interface.ip)
            and entry["prefixlen"] == interface.network.prefixlen
        ):
            return True
    return False
