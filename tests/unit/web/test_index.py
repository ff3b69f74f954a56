"""opsflow.web.index: the runs of a real SQLite store, kept fresh in memory."""

from __future__ import annotations

import uuid

import pytest

from opsflow.persistence import backends, models
from opsflow.runs.record import RUN_META_KEY
from opsflow.web.index import RunIndex


@pytest.fixture
def connection(tmp_path):
    backend = backends.fetch({"connection": f"sqlite:///{tmp_path}/runs.sqlite"})
    conn = backend.get_connection()
    conn.upgrade()
    yield conn
    backend.close()


def add_run(connection, flow: str, state: str = "SUCCESS") -> models.FlowDetail:
    book = models.LogBook(flow)
    fd = models.FlowDetail(flow, str(uuid.uuid4()))
    fd.state = state
    fd.meta[RUN_META_KEY] = {"flow": flow}
    book.add(fd)
    connection.save_logbook(book)
    return fd


def states_of(index: RunIndex) -> dict[str, str]:
    return {fd.uuid: fd.state for fd, _book in index.runs()}


def test_the_index_lists_every_run_newest_first_with_its_flows(connection):
    first = add_run(connection, "deploy")
    second = add_run(connection, "backup")
    index = RunIndex(connection)
    assert [fd.uuid for fd, _ in index.runs()] == [second.uuid, first.uuid]
    assert index.flows() == ["backup", "deploy"]


def test_a_run_added_or_changed_after_a_read_is_seen_at_the_next(connection):
    # Given an index that read a store written in a burst (more runs than
    # its first read of the listing's head takes)
    runs = [add_run(connection, "deploy", "RUNNING") for _ in range(150)]
    index = RunIndex(connection)
    assert len(index.runs()) == 150
    version = index.version
    # When a run far down the listing ends, and a new one starts
    runs[3].state = "FAILURE"
    connection.update_flow_details(runs[3])
    added = add_run(connection, "backup", "RUNNING")
    # Then both are seen, and the version says the runs changed
    seen = states_of(index)
    assert seen[runs[3].uuid] == "FAILURE"
    assert seen[added.uuid] == "RUNNING"
    assert len(seen) == 151
    assert index.version > version
    assert index.flows() == ["backup", "deploy"]


def test_the_version_stays_while_nothing_changes(connection):
    add_run(connection, "deploy")
    index = RunIndex(connection)
    index.runs()
    version = index.version
    index.runs()
    assert index.version == version


def test_a_purged_run_leaves_the_index_at_the_full_reread(connection):
    kept = add_run(connection, "deploy")
    gone = add_run(connection, "deploy")
    index = RunIndex(connection, full_every=0.0)  # every read is a full one
    assert len(index.runs()) == 2
    connection.destroy_logbook(connection.get_logbook_of(gone.uuid).uuid)
    assert [fd.uuid for fd, _ in index.runs()] == [kept.uuid]


def _with_atom(connection, flow: str, atom_name: str) -> models.FlowDetail:
    book = models.LogBook(flow)
    fd = models.FlowDetail(flow, str(uuid.uuid4()))
    fd.state = "FAILURE"
    atom = models.TaskDetail(atom_name, str(uuid.uuid4()))
    atom.state = "REVERT_FAILURE"
    fd.add(atom)
    book.add(fd)
    connection.save_logbook(book)
    return fd


@pytest.mark.parametrize("memory", [False, True])
def test_many_runs_are_read_with_their_atoms_at_once(connection, memory):
    if memory:  # the base class's one-by-one reading, on another backend
        connection = backends.fetch({"connection": "memory://"}).get_connection()
    first = _with_atom(connection, "deploy", "stop")
    second = _with_atom(connection, "backup", "copy")
    _with_atom(connection, "other", "left-out")
    found = connection.get_many_flow_details([second.uuid, first.uuid, "no-such-run"])
    assert sorted(found) == sorted([first.uuid, second.uuid])
    assert [a.name for a in found[first.uuid]] == ["stop"]
    assert [a.state for a in found[second.uuid]] == ["REVERT_FAILURE"]
    assert connection.get_many_flow_details([]) == {}
