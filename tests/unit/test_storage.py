"""What engine.storage answers before, during and after a run."""

from __future__ import annotations

import pytest

from opsflow import engines, exceptions, retry, states, task
from opsflow.patterns import linear_flow
from opsflow.types import failure


class Give(task.Task):
    def __init__(self, value, **kwargs):
        super().__init__(**kwargs)
        self.value = value

    def execute(self):
        return self.value

    def revert(self, result, flow_failures, **kwargs):
        return f"undid {result}"


class Double(task.Task):
    def execute(self, x):
        return 2 * x


class Bad(task.Task):
    def execute(self):
        raise RuntimeError("bad")


class BadRevert(task.Task):
    def execute(self):
        return 1

    def revert(self, **kwargs):
        raise OSError("cannot undo")


@pytest.fixture(params=["serial", "parallel"])
def engine_kind(request):
    return request.param


def test_fetch_returns_results_and_store_values(engine_kind):
    flow = linear_flow.Flow("f").add(Give(21, name="g", provides="x"), Double())
    engine = engines.load(flow, store={"unused": "u"}, engine=engine_kind)

    engine.run()

    storage = engine.storage
    assert storage.fetch("x") == 21
    assert storage.fetch("unused") == "u"
    assert storage.fetch_all() == {"x": 21, "unused": "u"}


def test_fetch_of_an_unknown_name_is_not_found(engine_kind):
    engine = engines.load(
        linear_flow.Flow("f").add(Give(1, name="g")), engine=engine_kind
    )
    engine.run()

    with pytest.raises(exceptions.NotFound):
        engine.storage.fetch("nothing")


def test_inject_adds_values_before_the_run(engine_kind):
    engine = engines.load(
        linear_flow.Flow("f").add(Double(provides="y")), engine=engine_kind
    )

    engine.storage.inject({"x": 4})
    engine.run()

    assert engine.storage.fetch("y") == 8


def test_states_before_and_after_a_successful_run(engine_kind):
    engine = engines.load(
        linear_flow.Flow("f").add(Give(1, name="g")), engine=engine_kind
    )
    engine.compile()
    engine.prepare()

    assert engine.storage.get_atom_state("g") == states.PENDING
    engine.run()

    assert engine.storage.get_atom_state("g") == states.SUCCESS
    assert engine.storage.get_flow_state() == states.SUCCESS


def test_revert_results_and_execute_failures_after_a_revert(engine_kind):
    flow = linear_flow.Flow("f").add(Give(7, name="g"), Bad("bad"))
    engine = engines.load(flow, engine=engine_kind)

    with pytest.raises(RuntimeError):
        engine.run()

    storage = engine.storage
    assert storage.get_revert_result("g") == "undid 7"
    assert storage.get_revert_failures() == {}
    assert storage.get_atom_state("bad") == states.REVERTED


def test_execute_failures_are_reported_while_unreverted(engine_kind):
    flow = linear_flow.Flow("f").add(Give(7, name="g"), Bad("bad"))
    engine = engines.load(flow, engine=engine_kind, never_resolve=True)

    with pytest.raises(RuntimeError):
        engine.run()

    failures = engine.storage.get_execute_failures()
    assert set(failures) == {"bad"}
    assert isinstance(failures["bad"], failure.Failure)
    assert failures["bad"].check(RuntimeError) is RuntimeError


def test_revert_failures_are_reported_by_atom(engine_kind):
    flow = linear_flow.Flow("f").add(BadRevert("br"), Bad("bad"))
    engine = engines.load(flow, engine=engine_kind)

    with pytest.raises(OSError, match="cannot undo"):
        engine.run()

    failures = engine.storage.get_revert_failures()
    assert set(failures) == {"br"}
    assert failures["br"].exception_str == "cannot undo"
    assert engine.storage.get_atom_state("br") == states.REVERT_FAILURE


def test_retry_history_is_available_by_retry_name(engine_kind):
    flow = linear_flow.Flow("f", retry=retry.Times(3, name="r")).add(Give(1, name="g"))
    engine = engines.load(flow, engine=engine_kind)

    engine.run()

    history = engine.storage.get_retry_history("r")
    assert len(history) == 1
    assert list(history.provided_iter()) == [1]


def test_flow_detail_finds_atom_details_by_uuid_like_taskflow(engine_kind):
    engine = engines.load(
        linear_flow.Flow("f").add(Give(1, name="g")), engine=engine_kind
    )
    engine.run()

    uuid = engine.storage.get_atom_uuid("g")
    detail = engine.storage.flow_detail.find(uuid)

    assert detail is not None
    assert detail.name == "g"
    assert detail.state == states.SUCCESS


class FailOnce(task.Task):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.calls = 0

    def execute(self):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("first try")
        return "second try"


def test_a_failure_recovered_by_a_retry_is_not_reported(engine_kind):
    flow = linear_flow.Flow("f", retry=retry.Times(2, name="r")).add(
        FailOnce(name="flaky", provides="out")
    )
    engine = engines.load(flow, engine=engine_kind)

    engine.run()

    assert engine.storage.get_execute_failures() == {}
    assert engine.storage.fetch("out") == "second try"
    history = engine.storage.get_retry_history("r")
    assert history.caused_by(RuntimeError)


def test_atom_details_come_in_the_order_asked_and_an_unknown_name_is_not_found():
    # Given a storage holding the records of three atoms
    from opsflow.persistence import models
    from opsflow.storage import Storage

    class Step(task.Task):
        def execute(self):
            return None

    storage = Storage(models.FlowDetail("flow"))
    storage.ensure_atoms(Step(name=name) for name in ("a", "b", "c"))

    # When they are asked for by name, in an order of the caller's
    details = storage.atom_details(["c", "a"])

    # Then each record comes back in that order, the same objects storage keeps
    assert [d.name for d in details] == ["c", "a"]
    assert details[0] is storage.atom_detail("c")
    # And a name storage does not know is reported by name
    with pytest.raises(exceptions.NotFound, match="Unknown atom name 'nope'"):
        storage.atom_details(["a", "nope"])
