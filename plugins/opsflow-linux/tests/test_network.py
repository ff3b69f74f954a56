"""Network tasks on real namespaces and links (root only), checked with ``ip``."""

from __future__ import annotations

import os

import pytest
from hostcheck import links, netns_names, network_snapshot, require_root, unique_tenant
from opsflow_linux.network import (
    Address,
    LinkUp,
    Namespace,
    NeedsRoot,
    NetworkError,
    RemoveNamespace,
    VethPair,
)

from opsflow.patterns import linear_flow
from opsflow.testing import check_reverts


def network_flow(name: str) -> linear_flow.Flow:
    ns, host, peer = f"kit-{name}", f"vh-{name}", f"vp-{name}"
    flow = linear_flow.Flow("network")
    flow.add(
        Namespace(ns, name="netns"),
        VethPair(host, peer, ns, name="veth"),
        Address(host, "10.251.0.1/30", name="host_address"),
        Address(peer, "10.251.0.2/30", netns=ns, name="peer_address"),
        LinkUp(host, name="host_up"),
        LinkUp(peer, netns=ns, name="peer_up"),
    )
    return flow


def test_every_network_revert_undoes_its_step_even_when_run_twice():
    require_root()
    name = unique_tenant()
    report = check_reverts(
        lambda: network_flow(name), network_snapshot, revert_twice=True
    )
    assert len(report.outcomes) == 6


def test_the_network_flow_builds_a_namespace_joined_by_a_veth_pair():
    require_root()
    name = unique_tenant()
    ns = f"kit-{name}"
    flow = network_flow(name)
    from opsflow import engines

    engines.run(flow)
    try:
        assert ns in netns_names()
        assert (f"vh-{name}", True, ("10.251.0.1/30",)) in links()
        assert (f"vp-{name}", True, ("10.251.0.2/30",)) in links(ns)
    finally:
        RemoveNamespace(ns).execute()
    assert ns not in netns_names()
    assert not [link for link in links() if link[0] == f"vh-{name}"]


def test_without_root_a_network_task_fails_clearly_and_changes_nothing(monkeypatch):
    # Given a process that is not root (as far as the task can tell)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    before = netns_names()
    # When it tries to create a namespace, then Then it refuses, naming root
    with pytest.raises(NeedsRoot, match="needs root .*nothing was changed"):
        Namespace("opsflow-never", name="netns").execute()
    with pytest.raises(NeedsRoot):
        VethPair("a", "b", "c", name="veth").execute()
    assert netns_names() == before


def test_a_namespace_that_exists_already_is_refused_and_kept():
    require_root()
    ns = f"kit-{unique_tenant()}"
    result = Namespace(ns).execute()
    try:
        with pytest.raises(NetworkError, match="already exists"):
            Namespace(ns).execute()
        assert ns in netns_names()
    finally:
        Namespace(ns).revert(result=result)
    assert ns not in netns_names()
