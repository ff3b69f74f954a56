"""Lease claims and fenced writes on the SQL store (SQLite here).

The conductor's safety rests on these: a claim moves the lease one
generation on whoever held it, and a connection fenced by an old token
writes nothing and raises ``LeaseLost``, so its engine stops unreverted.
"""

from __future__ import annotations

from typing import Any

import pytest

from opsflow import engines, states, task
from opsflow.patterns import linear_flow
from opsflow.persistence import leases, models
from opsflow.persistence.backends.impl_sqlalchemy import SQLAlchemyBackend


@pytest.fixture
def backend(tmp_path: Any) -> Any:
    made = SQLAlchemyBackend(f"sqlite:///{tmp_path / 'runs.sqlite'}")
    made.get_connection().upgrade()
    yield made
    made.close()


def _stored_run(backend: Any) -> models.FlowDetail:
    book = models.LogBook("book")
    flow_detail = models.FlowDetail("flow")
    book.add(flow_detail)
    backend.get_connection().save_logbook(book)
    return flow_detail


def test_each_claim_takes_the_lease_one_generation_on(backend):
    connection = backend.get_connection()
    first = leases.claim(connection, "run-1")
    second = leases.claim(connection, "run-1")
    assert leases.generation(first.token) == 1
    assert leases.generation(second.token) == 2
    assert connection.get_lease("run-1").token == second.token


def test_a_fenced_write_after_another_claim_raises_lease_lost_and_writes_nothing(
    backend,
):
    # Given a run claimed by A, whose writes are fenced by its token
    flow_detail = _stored_run(backend)
    lease_a = leases.claim(backend.get_connection(), flow_detail.uuid)
    fenced_a = leases.FencedBackend(backend, flow_detail.uuid, lease_a.token)
    connection_a = fenced_a.get_connection()
    flow_detail.state = states.RUNNING
    connection_a.update_flow_details(flow_detail)  # A holds it: written
    # When B claims the run
    leases.claim(backend.get_connection(), flow_detail.uuid)
    # Then A's next write is refused and leaves the store as it was
    flow_detail.state = states.SUCCESS
    with pytest.raises(leases.LeaseLost, match="taken over"):
        connection_a.update_flow_details(flow_detail)
    stored = backend.get_connection().get_flow_details(flow_detail.uuid)
    assert stored.state == states.RUNNING


def test_an_engine_whose_run_is_claimed_away_stops_without_reverting(backend):
    # Given an engine writing through A's fenced connection
    flow_detail = _stored_run(backend)
    lease_a = leases.claim(backend.get_connection(), flow_detail.uuid)
    events: list[str] = []

    class Step(task.Task):
        def execute(self) -> str:
            events.append(f"execute {self.name}")
            if self.name == "two":  # another conductor takes the run meanwhile
                leases.claim(backend.get_connection(), flow_detail.uuid)
            return self.name

        def revert(self, *args: Any, **kwargs: Any) -> None:
            events.append(f"revert {self.name}")

    flow = linear_flow.Flow("f").add(Step("one"), Step("two"), Step("three"))
    engine = engines.load(
        flow,
        flow_detail=flow_detail,
        backend=leases.FencedBackend(backend, flow_detail.uuid, lease_a.token),
    )
    # When it runs
    with pytest.raises(leases.LeaseLost):
        engine.run()
    # Then it stopped at the refused write: nothing reverted, nothing more run
    assert events == ["execute one", "execute two"]
    stored = {
        d.name: d.state
        for d in backend.get_connection().get_flow_details(flow_detail.uuid)
    }
    assert stored["one"] == states.SUCCESS
    assert stored["two"] == states.RUNNING  # the new owner decides what next
    assert stored.get("three", states.PENDING) == states.PENDING
