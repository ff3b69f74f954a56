"""Step estimates come from the newest finished runs of a flow, in a real store."""

from __future__ import annotations

from opsflow import states
from opsflow.persistence import backends, models
from opsflow.runs import queries
from opsflow.views.timings import HISTORY, META_KEY


def _store_run(connection, flow: str, state: str, seconds: float) -> None:
    book = models.LogBook(f"book-{flow}")
    run = models.FlowDetail(flow)
    run.state = state
    step = models.TaskDetail("step")
    step.state = states.SUCCESS
    step.meta[META_KEY] = {"run": seconds}
    run.add(step)
    book.add(run)
    connection.save_logbook(book)


def test_estimates_are_medians_over_the_newest_finished_runs_of_the_flow(tmp_path):
    # Given a SQLite store holding more finished runs of a flow than the
    # estimates look at (step times 1, 2, ... seconds, oldest first), one run
    # still going that took far longer, and another flow's runs
    backend = backends.fetch({"connection": f"sqlite:///{tmp_path / 'runs.db'}"})
    connection = backend.get_connection()
    connection.upgrade()
    for seconds in range(1, HISTORY + 6):
        _store_run(connection, "deploy", states.SUCCESS, float(seconds))
    _store_run(connection, "deploy", states.RUNNING, 1000.0)
    _store_run(connection, "other", states.SUCCESS, 500.0)

    # When the estimates of the flow are read
    estimates = queries.estimates_for(connection, "deploy")

    # Then only its newest HISTORY finished runs count (6 .. 25 seconds)
    assert estimates.runs_seen == HISTORY
    assert estimates.run == {"step": (6 + HISTORY + 5) / 2}
    backend.close()
