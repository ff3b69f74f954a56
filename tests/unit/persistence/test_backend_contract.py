"""What every persistence backend must do (run once per backend, see conftest)."""

from __future__ import annotations

import sys
import time

import pytest

from opsflow import engines, exceptions, states, task
from opsflow.patterns import linear_flow
from opsflow.persistence import leases, models
from opsflow.types.failure import Failure


def _failure(depth: int = 0) -> Failure:
    # Two functions calling each other: Python folds a run of identical
    # frames into one line, alternating ones are all printed.
    def dive(n: int) -> None:
        if n <= 0:
            raise ValueError("deep down", n)
        dive_again(n - 1)

    def dive_again(n: int) -> None:
        dive(n)

    try:
        dive(depth)
    except ValueError:
        return Failure.from_exception(sys.exc_info()[1])
    raise AssertionError("unreachable")


def _book_with_run() -> tuple[models.LogBook, models.FlowDetail]:
    book = models.LogBook("book", meta={"owner": "ops"})
    flow_detail = models.FlowDetail("flow", state=states.RUNNING, meta={"k": [1, 2]})
    book.add(flow_detail)
    flow_detail.add(
        models.TaskDetail(
            "a", state=states.SUCCESS, results={"x": (1, 2), 3: {"y"}}, version=(1, 0)
        )
    )
    flow_detail.add(
        models.TaskDetail("b", state=states.FAILURE, failure=_failure(), meta={"p": 1})
    )
    retry = models.RetryDetail("r", state=states.RETRYING)
    retry.results.append((2, {"b": _failure()}))
    flow_detail.add(retry)
    return book, flow_detail


def _atom(flow_detail: models.FlowDetail, name: str) -> models.AtomDetail:
    return next(detail for detail in flow_detail if detail.name == name)


def test_upgrade_can_run_again_on_an_up_to_date_store(backend):
    backend.get_connection().upgrade()
    backend.get_connection().upgrade()


def test_a_saved_logbook_reads_back_with_every_detail(conn):
    # Given a logbook with a run holding a task result, a failure and a retry
    book, flow_detail = _book_with_run()
    conn.save_logbook(book)

    # When it is read back
    read = conn.get_logbook(book.uuid)

    # Then every field came back, in the same order and with the same types
    assert read.name == "book" and read.meta == {"owner": "ops"}
    stored = read.find(flow_detail.uuid)
    assert stored is not None
    assert stored.state == states.RUNNING and stored.meta == {"k": [1, 2]}
    assert [d.name for d in stored] == ["a", "b", "r"]
    a, b, r = _atom(stored, "a"), _atom(stored, "b"), _atom(stored, "r")
    assert isinstance(a, models.TaskDetail) and isinstance(r, models.RetryDetail)
    assert a.results == {"x": (1, 2), 3: {"y"}} and a.version == "1.0"
    assert b.failure is not None and b.failure.check(ValueError)
    assert b.failure.exception_str == _atom(flow_detail, "b").failure.exception_str
    assert b.meta == {"p": 1}
    assert r.results[0][0] == 2 and r.results[0][1]["b"].check(ValueError)


def test_a_missing_logbook_is_not_found(conn):
    with pytest.raises(exceptions.NotFound):
        conn.get_logbook("no-such-book")
    with pytest.raises(exceptions.NotFound):
        conn.destroy_logbook("no-such-book")


def test_atom_details_are_added_then_updated_in_place(conn):
    book, flow_detail = _book_with_run()
    conn.save_logbook(book)

    # When a new atom is saved, then updated twice
    detail = models.TaskDetail("c")
    flow_detail.add(detail)
    conn.save_atom_detail(flow_detail, detail)
    detail.state = states.RUNNING
    conn.save_atom_detail(flow_detail, detail)
    detail.state, detail.results = states.SUCCESS, [1, "two", None]
    conn.save_atom_detail(flow_detail, detail)

    # Then the store holds its last state once, after the others
    stored = conn.get_flow_details(flow_detail.uuid)
    assert [d.name for d in stored] == ["a", "b", "r", "c"]
    assert _atom(stored, "c").state == states.SUCCESS
    assert _atom(stored, "c").results == [1, "two", None]


def test_a_flow_update_saves_its_state_and_meta(conn):
    book, flow_detail = _book_with_run()
    conn.save_logbook(book)
    flow_detail.state = states.SUCCESS
    flow_detail.meta["store"] = {"steps": 3}
    conn.update_flow_details(flow_detail)

    stored = conn.get_flow_details(flow_detail.uuid)
    assert stored.state == states.SUCCESS
    assert stored.meta == {"k": [1, 2], "store": {"steps": 3}}


def test_updating_a_flow_that_was_never_saved_is_not_found(conn):
    with pytest.raises(exceptions.NotFound):
        conn.update_flow_details(models.FlowDetail("nowhere"))


def test_a_five_megabyte_result_and_a_deep_traceback_are_kept_whole(conn):
    # Given a 5 MB result and a failure 400 frames deep
    big = "x" * (5 * 1024 * 1024)
    deep = _failure(depth=400)
    book = models.LogBook("big")
    flow_detail = models.FlowDetail("flow")
    book.add(flow_detail)
    conn.save_logbook(book)
    result = models.TaskDetail("big", state=states.SUCCESS, results={"blob": big})
    failed = models.TaskDetail("deep", state=states.FAILURE, failure=deep)
    for detail in (result, failed):
        flow_detail.add(detail)
        conn.save_atom_detail(flow_detail, detail)

    # Then both read back without a byte lost
    stored = conn.get_flow_details(flow_detail.uuid)
    assert _atom(stored, "big").results["blob"] == big
    traceback = _atom(stored, "deep").failure.traceback_str
    assert traceback == deep.traceback_str
    assert traceback.count("in dive_again") >= 399


def test_runs_are_found_by_uuid_and_listed_newest_first(conn):
    older, older_run = _book_with_run()
    conn.save_logbook(older)
    time.sleep(0.01)
    newer, newer_run = _book_with_run()
    conn.save_logbook(newer)

    assert conn.get_logbook_of(newer_run.uuid).uuid == newer.uuid
    assert conn.get_flow_details(older_run.uuid).name == "flow"
    listed = [fd.uuid for fd, _book in conn.list_flow_details()]
    assert listed.index(newer_run.uuid) < listed.index(older_run.uuid)
    with pytest.raises(exceptions.NotFound):
        conn.get_flow_details("no-such-run")


def test_destroying_a_logbook_removes_its_runs_and_clear_all_removes_all(conn):
    first, first_run = _book_with_run()
    second, _ = _book_with_run()
    conn.save_logbook(first)
    conn.save_logbook(second)

    conn.destroy_logbook(first.uuid)
    assert [b.uuid for b in conn.get_logbooks()] == [second.uuid]
    with pytest.raises(exceptions.NotFound):
        conn.get_flow_details(first_run.uuid)

    conn.clear_all()
    assert list(conn.get_logbooks()) == []


# -- leases -------------------------------------------------------------------
def test_a_run_lease_is_held_by_one_owner_and_swapped_only_by_token(conn):
    mine = leases.new_lease("run-1")
    other = leases.new_lease("run-1")
    assert conn.insert_lease(mine)
    assert not conn.insert_lease(other)
    assert conn.get_lease("run-1").token == mine.token

    # A swap against a stale token fails; against the current one it wins
    assert not conn.replace_lease("stale", other)
    assert conn.replace_lease(mine.token, other)
    assert not conn.renew_lease("run-1", mine.token, 1.0, 2.0)
    assert conn.renew_lease("run-1", other.token, 5.0, 6.0)
    assert conn.get_lease("run-1").expires_at == 6.0

    conn.delete_lease("run-1", mine.token)  # not ours any more: kept
    assert conn.get_lease("run-1") is not None
    conn.delete_lease("run-1", other.token)
    assert conn.get_lease("run-1") is None


def test_acquiring_a_live_owners_run_names_the_owner(conn):
    held = leases.acquire(conn, "run-2")
    with pytest.raises(leases.LeaseHeld) as caught:
        # This very process holds it: it counts as alive.
        leases.acquire(conn, "run-2")
    assert caught.value.holder.token == held.token
    assert f"pid {held.pid}" in str(caught.value)


def test_an_expired_or_dead_owners_lease_is_taken_over(conn):
    import dataclasses

    # Given a lease whose owner stopped heart-beating long ago
    expired = dataclasses.replace(
        leases.new_lease("run-3"), host="elsewhere", expires_at=time.time() - 1
    )
    assert conn.insert_lease(expired)
    assert leases.acquire(conn, "run-3").token != expired.token

    # And one held by a process of this host that is gone
    dead = dataclasses.replace(leases.new_lease("run-4"), pid=2**22 + 12345)
    assert conn.insert_lease(dead)
    assert leases.acquire(conn, "run-4").token != dead.token


def test_a_heartbeat_renews_the_lease_and_releases_it_at_the_end(conn):
    lease = leases.acquire(conn, "run-5", ttl=0.3)
    with leases.Heartbeat(conn, lease, ttl=0.3):
        time.sleep(0.35)
        assert conn.get_lease("run-5").expires_at > lease.expires_at
    assert conn.get_lease("run-5") is None


# -- through the engine --------------------------------------------------------
class Count(task.Task):
    calls: list[str] = []

    def execute(self, secret=None):
        Count.calls.append(self.name)
        return {"by": self.name, "saw_secret": secret is not None}


def _flow() -> linear_flow.Flow:
    return linear_flow.Flow("counted").add(*(Count(f"t{i}") for i in range(4)))


def test_an_engine_writes_every_outcome_and_never_a_secret(backend, conn):
    # Given a run with a public value and a transient secret
    Count.calls = []
    engine = engines.load(_flow(), store={"region": "eu"}, backend=backend)
    engine.storage.inject({"secret": "hunter2"}, transient=True)

    # When it runs to the end
    engine.run()

    # Then the store holds each result and the flow state, but not the secret
    stored = conn.get_flow_details(engine.storage.flow_uuid)
    assert stored.state == states.SUCCESS
    assert {d.name: d.state for d in stored} == {
        f"t{i}": states.SUCCESS for i in range(4)
    }
    assert _atom(stored, "t3").results == {"by": "t3", "saw_secret": True}
    assert "hunter2" not in repr(stored.meta) + repr([d.to_dict() for d in stored])


def test_a_run_found_mid_step_resumes_from_that_step(backend, conn):
    # Given a run whose store says t2 was running when the process died
    Count.calls = []
    engine = engines.load(_flow(), backend=backend)
    engine.run()
    book = conn.get_logbook_of(engine.storage.flow_uuid)
    flow_detail = book.find(engine.storage.flow_uuid)
    for name in ("t2", "t3"):
        detail = _atom(flow_detail, name)
        detail.reset(states.RUNNING if name == "t2" else states.PENDING)
        conn.save_atom_detail(flow_detail, detail)
    flow_detail.state = states.RUNNING
    conn.update_flow_details(flow_detail)
    Count.calls = []

    # When a new engine loads the stored run
    stored_book = conn.get_logbook_of(flow_detail.uuid)
    resumed = engines.load(
        _flow(),
        flow_detail=stored_book.find(flow_detail.uuid),
        book=stored_book,
        backend=backend,
    )
    resumed.run()

    # Then only the step in flight and the ones after it run
    assert Count.calls == ["t2", "t3"]
    assert conn.get_flow_details(flow_detail.uuid).state == states.SUCCESS
