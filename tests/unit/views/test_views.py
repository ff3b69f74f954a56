"""opsflow.views: plans, pictures and timings of real compiled flows."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace

import pytest

from opsflow import engines, retry, task
from opsflow.cli import progress
from opsflow.patterns import graph_flow, linear_flow
from opsflow.views import pictures, plan, timings


class Noop(task.Task):
    def execute(self):
        return True


def nested_retries():
    """s0, then r1 (3 attempts) over a and a subflow r2 (2 attempts) over x."""
    inner = linear_flow.Flow("in", retry=retry.Times(2, name="r2")).add(Noop(name="x"))
    outer = linear_flow.Flow("out", retry=retry.Times(3, name="r1")).add(
        Noop(name="a"), inner
    )
    return engines.load(linear_flow.Flow("top").add(Noop(name="s0"), outer))


def decided_flow():
    probe, install, report = (
        Noop(name="probe"),
        Noop(name="install"),
        Noop(name="report"),
    )

    def only_when_missing(history):
        return False

    flow = graph_flow.Flow("g").add(probe, install, report)
    flow.link(probe, install, decider=only_when_missing)
    flow.link(install, report)
    return engines.load(flow)


def test_a_failure_under_nested_retries_goes_to_the_nearest_controller_first():
    steps = {s.name: s for s in plan.plan(nested_retries().compilation)}
    x = steps["x"]
    # Given x fails every time: r2 reverts x and runs it again, then r1 reverts
    # its whole subflow, and when r1 runs out the whole flow is reverted.
    assert [(s.retry, s.attempts, s.reverts) for s in x.retried_by] == [
        ("r2", 2, ("x",)),
        ("r1", 3, ("x", "r2", "a")),
    ]
    assert x.reverted_on_failure == ("x", "r2", "a", "r1", "s0")
    assert x.after == ("s0", "r1", "a", "r2")
    assert steps["s0"].retried_by == () and steps["s0"].reverted_on_failure == ("s0",)


def test_a_revert_all_controller_stops_the_chain_of_retries():
    inner = linear_flow.Flow(
        "in", retry=retry.Times(2, name="r2", revert_all=True)
    ).add(Noop(name="x"))
    outer = linear_flow.Flow("out", retry=retry.Times(3, name="r1")).add(inner)
    compilation = engines.load(linear_flow.Flow("top").add(outer)).compilation
    x = {s.name: s for s in plan.plan(compilation)}["x"]
    assert [stage.retry for stage in x.retried_by] == ["r2"]
    assert x.retried_by[0].policy == "2 attempts, then reverts the whole flow"


def test_a_step_behind_a_decider_says_what_may_skip_it():
    steps = {s.name: s for s in plan.plan(decided_flow().compilation)}
    assert steps["install"].skipped_unless == (
        "decided_flow.<locals>.only_when_missing (after probe)",
    )
    assert steps["report"].skipped_unless == ()


def test_the_text_tree_nests_subflows_and_names_retry_policies():
    text = pictures.to_text(pictures.picture_of("top", nested_retries().compilation))
    assert text.splitlines() == [
        "flow top",
        "├─ 1. s0",
        "└─ out (linear), retried by r1: 3 attempts",
        "   ├─ 2. r1  retry: 3 attempts",
        "   ├─ 3. a",
        "   └─ in (linear), retried by r2: 2 attempts",
        "      ├─ 4. r2  retry: 2 attempts",
        "      └─ 5. x",
    ]


def test_mermaid_and_dot_show_a_decider_as_a_dashed_conditional_link():
    picture = pictures.picture_of("g", decided_flow().compilation)
    mermaid = pictures.to_mermaid(picture)
    assert re.search(r'^  s1 -\. "if .*only_when_missing" \.-> s2$', mermaid, re.M)
    assert "  s2 --> s3" in mermaid
    dot = pictures.to_dot(picture)
    assert re.search(r'"probe" -> "install" \[style=dashed, label="if .*"\];', dot)


def test_a_run_picture_colours_states_and_numbers_the_reverts():
    compilation = engines.load(
        linear_flow.Flow("f").add(*(Noop(name=name) for name in "abcd"))
    ).compilation
    # Given a run where d failed, c was reverted and b's revert failed
    picture = pictures.picture_of(
        "f",
        compilation,
        states={
            "a": "SUCCESS",
            "b": "REVERT_FAILURE",
            "c": "REVERTED",
            "d": "REVERTED",
        },
        durations={"c": 1.5},
        revert_path=["d", "c", "b"],
        run_id="r1",
        run_state="FAILURE",
        failed=["d"],
    )
    dot = pictures.to_dot(picture)
    assert '"c" [label="3. c\\nREVERTED 1.50s", shape=box, fillcolor="#fff59d"];' in (
        dot
    )
    # The failure that started the revert is marked; b's failed revert is red
    assert '"d" [label="4. d\\nREVERTED failed here", shape=box, ' in dot
    assert '"b" [label="2. b\\nREVERT_FAILURE", shape=box, fillcolor="#e57373", ' in dot
    # a is still applied: it needs a person, it is not a green success
    assert '"a" [label="1. a\\nneeds a person (SUCCESS)", shape=box, ' in dot
    assert 'fillcolor="#ffab91"' in dot and "#c8e6c9" not in dot
    # Undo arrows join what was reverted, never into b
    assert dot.count('label="undo ') == 1
    assert '"d" -> "c" [color="#c62828"' in dot
    assert not re.search(r'-> "b" \[color="#c62828"', dot)
    mermaid = pictures.to_mermaid(picture)
    assert "class s3,s4 REVERTED" in mermaid and "class s2 REVERT_FAILURE" in mermaid
    assert "class s1 NEEDS_PERSON" in mermaid and "class s4 failedHere" in mermaid
    assert "linkStyle 3 stroke:#c62828" in mermaid
    assert pictures.to_text(picture).endswith(
        "reverted: d -> c\nrevert failed: b\nneeds a person: a\n"
    )


def test_a_long_linear_flow_is_drawn_top_to_bottom():
    def flow(count):
        steps = (Noop(name=f"s{i}") for i in range(count))
        return engines.load(linear_flow.Flow("f").add(*steps)).compilation

    assert pictures.picture_of("f", flow(8)).direction == "LR"
    long = pictures.picture_of("f", flow(9))
    assert long.direction == "TB"
    assert "  rankdir=TB;" in pictures.to_dot(long)
    assert "flowchart TB" in pictures.to_mermaid(long)


@pytest.mark.parametrize(
    ("path", "wanted", "fmt"),
    [
        ("x.dot", None, "dot"),
        ("x.GV", None, "dot"),
        ("x.svg", None, "svg"),
        ("x.png", None, "png"),
        ("x.mmd", None, "mermaid"),
        ("x.txt", None, "text"),
        ("-", None, "text"),
        ("x.whatever", "text", "text"),
    ],
)
def test_the_format_follows_the_extension_unless_asked(path, wanted, fmt):
    assert pictures.format_for(path, wanted) == fmt


def test_svg_without_dot_raises_a_clear_error(monkeypatch):
    monkeypatch.setattr(pictures.shutil, "which", lambda name: None)
    picture = pictures.picture_of("top", nested_retries().compilation)
    with pytest.raises(pictures.DotMissing, match="apt-get install graphviz"):
        pictures.render(picture, "svg")


def _run(states_and_timings):
    """A stored run: atom details with a state and a timing meta."""
    details = [
        SimpleNamespace(name=name, state=state, meta={"timing": timing})
        for name, (state, timing) in states_and_timings.items()
    ]
    return details


def test_estimates_are_medians_per_attempt_over_past_runs():
    runs = [
        _run(
            {
                "a": ("SUCCESS", {"run": 1.0}),
                "b": ("SUCCESS", {"run": 4.0, "attempts": 2}),
            }
        ),
        _run({"a": ("REVERTED", {"run": 3.0, "revert": 0.5}), "b": ("PENDING", {})}),
        _run({"a": ("SUCCESS", {"run": 2.0}), "b": ("SUCCESS", {"run": 6.0})}),
    ]
    estimates = timings.estimates_from(runs)
    assert estimates.run == {"a": 2.0, "b": 4.0}
    assert estimates.revert == {"a": 0.5}
    # a step never seen counts as the median of the others
    assert estimates.run_time("new") == 3.0
    assert timings.estimates_from([]).run_time("a") is None


def test_a_run_with_only_the_timing_listener_still_gives_estimates():
    detail = SimpleNamespace(name="a", state="SUCCESS", meta={"duration": 2.5})
    assert timings.estimates_from([[detail]]).run == {"a": 2.5}


def test_the_eta_is_what_is_left_of_each_step_at_its_median():
    estimates = timings.Estimates(run={"a": 2.0, "b": 3.0, "c": 5.0})
    bar = progress.ProgressBar(_Sink(), width=10, estimates=estimates)
    recorder = progress.StepRecorder("f", ["a", "b", "c"], bar)
    assert bar.eta(recorder) == pytest.approx(10.0)
    recorder._on_atom_event("RUNNING", {"task_name": "a"})
    recorder.steps["a"].since = time.monotonic() - 0.5
    assert bar.eta(recorder) == pytest.approx(9.5, abs=0.05)
    assert "ETA 9.5s" in bar.render(recorder)
    recorder._on_atom_event("SUCCESS", {"task_name": "a"})
    assert bar.eta(recorder) == pytest.approx(8.0)


def test_no_history_means_no_eta():
    bar = progress.ProgressBar(_Sink(), width=10)
    recorder = progress.StepRecorder("f", ["a"], bar)
    assert bar.eta(recorder) is None and "ETA" not in bar.render(recorder)


@pytest.mark.parametrize(
    ("seconds", "text"), [(4.24, "4.2s"), (65, "1m05s"), (3725, "1h02m")]
)
def test_durations_read_as_people_say_them(seconds, text):
    assert progress.format_seconds(seconds) == text


def test_the_recorder_keeps_each_steps_timing_in_the_run_storage():
    engine = engines.load(linear_flow.Flow("f").add(Noop(name="a"), Noop(name="b")))
    engine.compile()
    engine.prepare()
    recorder = progress.StepRecorder("f", ["a", "b"], _Quiet())
    recorder.attach(engine, record=True)
    engine.run()
    timing = engine.storage.atom_detail("a").meta[timings.META_KEY]
    assert timing["attempts"] == 1 and timing["run"] >= 0
    assert timing["started_at"] == pytest.approx(time.time(), abs=60)


class _Sink:
    def write(self, text):
        pass

    def flush(self):
        pass


class _Quiet:
    def step_changed(self, step, recorder):
        pass

    progressed = flow_changed = tick = step_changed

    def finish(self, recorder):
        pass
