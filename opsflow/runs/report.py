"""A run as data: its steps, results and failures, and the JSON shapes.

:func:`report_of` turns a stored run into a :class:`RunReport`, the same
report a run that just finished gives; :func:`json_document` is its
``--format json`` document and :func:`plan_document` the ``--dry-run
--format json`` plan. ``opsflow-run`` prints them, ``opsflow-web`` serves
them: both show the same shapes, values masked by the caller's masker.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from opsflow import states

if TYPE_CHECKING:
    from opsflow.persistence import base, models
    from opsflow.plugins.catalog import Catalog
    from opsflow.views.plan import DrillPlan, PlannedStep

__all__ = [
    "FailureReport",
    "Masking",
    "RunReport",
    "StepRecord",
    "failure_report",
    "json_document",
    "jsonable",
    "listing_document",
    "not_reverted",
    "plan_document",
    "recap",
    "report_of",
    "revert_command",
    "show_document",
    "stored_report",
]


class Masking(Protocol):
    """What hides a run's secrets in what is shown (``opsflow.cli.masking.Masker``)."""

    def text(self, text: str) -> str: ...

    def value(self, value: Any) -> Any: ...


@dataclass
class StepRecord:
    """One step of the run as the operator sees it."""

    name: str
    state: str = "PENDING"
    progress: float = 0.0
    duration: float = 0.0
    since: float | None = None
    #: Wall-clock time (epoch seconds) of its first start, and of the end
    #: of its revert; seconds spent running (all attempts) and reverting.
    started_at: float | None = None
    reverted_at: float | None = None
    attempts: int = 0
    run_seconds: float = 0.0
    revert_seconds: float = 0.0
    #: ``Type: message`` of its last failure (execute or revert), if any.
    error: str | None = None
    #: Whether its last successful execute changed something (None: it has
    #: not succeeded, or the run recorded nothing of it).
    changed: bool | None = None

    def timing(self) -> dict[str, Any]:
        """What is kept in the atom's meta (see :mod:`opsflow.views.timings`)."""
        return {
            "started_at": self.started_at,
            "run": round(self.run_seconds, 6),
            "revert": round(self.revert_seconds, 6),
            "attempts": self.attempts,
            "reverted_at": self.reverted_at,
            "changed": self.changed,
        }


@dataclass(frozen=True)
class FailureReport:
    """A step that failed (``phase`` execute) or whose revert failed (revert)."""

    atom: str
    phase: str
    exception: str
    traceback: str


@dataclass
class RunReport:
    """The outcome of one run, ready to print."""

    run_id: str
    flow: str
    state: str
    duration: float
    steps: list[StepRecord]
    results: dict[str, Any] = field(default_factory=dict)
    failures: list[FailureReport] = field(default_factory=list)
    traceback_path: str | None = None
    #: A stored run under way whose owner is gone: the owner and the commands
    #: to go on (:func:`opsflow.runs.queries.interruption`); None otherwise.
    interrupted: dict[str, Any] | None = None
    #: ``host pid N`` of the live process running a stored run.
    running_by: str | None = None
    #: Steps that succeeded without changing anything: their result said so
    #: (:func:`opsflow.task.made_changes`), or they are retry controllers.
    unchanged: set[str] = field(default_factory=set)


#: The counts of a run's recap, in the order they are printed.
RECAP_KEYS = ("ok", "changed", "skipped", "reverted", "failed")


def recap(report: RunReport) -> dict[str, int]:
    """Ansible-style counts of a run's steps.

    ``ok``: steps that succeeded, ``changed`` those of them that changed
    something; ``skipped``: steps a decider left out; ``reverted``: steps
    undone; ``failed``: steps that failed or whose revert failed. A step
    that failed and was then undone counts as failed and reverted.
    """
    failed = {failure.atom for failure in report.failures if failure.atom != "(engine)"}
    counts = dict.fromkeys(RECAP_KEYS, 0)
    for step in report.steps:
        if step.state == states.SUCCESS:
            counts["ok"] += 1
            counts["changed"] += step.name not in report.unchanged
        elif step.state == states.IGNORE:
            counts["skipped"] += 1
        elif step.state == states.REVERTED:
            counts["reverted"] += 1
        if step.state in (states.FAILURE, states.REVERT_FAILURE):
            failed.add(step.name)
    counts["failed"] = len(failed)
    return counts


def _changed(report: RunReport, step: StepRecord) -> bool | None:
    if step.state != states.SUCCESS:
        return None
    return step.name not in report.unchanged


def jsonable(value: Any) -> Any:
    """``value`` if JSON can hold it, else its parts converted, else ``str``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(item) for item in value]
    return str(value)


def not_reverted(report: RunReport) -> list[str]:
    """Steps of a FAILURE run whose changes are still in place, in run order:
    those whose revert failed, and those left unreverted behind them."""
    if report.state != "FAILURE":
        return []
    return [
        step.name
        for step in report.steps
        if step.state in ("REVERT_FAILURE", "SUCCESS", "FAILURE", "REVERTING")
    ]


def revert_command(report: RunReport) -> str | None:
    """The command that retries the reverts of a FAILURE run (or cancels a
    SUSPENDED or interrupted one); None for a run with nothing to undo."""
    if report.state in ("FAILURE", "SUSPENDED") or report.interrupted:
        return f"opsflow-run --revert {report.run_id}"
    return None


def iso_ms(epoch: float | None) -> str | None:
    """An epoch time as UTC ISO 8601 to the millisecond (None stays None)."""
    if epoch is None:
        return None
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.isoformat(timespec="milliseconds")


def json_document(report: RunReport, masker: Masking) -> dict[str, Any]:
    """The ``--format json`` document of a run, with each
    step's timing and, for a FAILURE run, what is left and how to retry."""
    return {
        "run_id": report.run_id,
        "flow": report.flow,
        "state": report.state,
        "duration": round(report.duration, 3),
        "atoms": {
            step.name: {
                "state": step.state,
                "result": masker.value(jsonable(report.results.get(step.name))),
                "duration": round(step.duration, 3),
                "started_at": iso_ms(step.started_at),
                "attempts": step.attempts,
                "run_duration": round(step.run_seconds, 3),
                "revert_duration": round(step.revert_seconds, 3),
                "changed": _changed(report, step),
            }
            for step in report.steps
        },
        "recap": recap(report),
        "not_reverted": not_reverted(report),
        "revert_command": revert_command(report),
        "interrupted": report.interrupted,
        "failures": [
            {
                "atom": failure.atom,
                "phase": failure.phase,
                "exception": masker.text(failure.exception),
                "traceback": masker.text(failure.traceback),
            }
            for failure in report.failures
        ],
    }


def plan_document(
    flow: str, steps: Sequence[PlannedStep], drill: DrillPlan | None = None
) -> dict[str, Any]:
    """The ``--dry-run --format json`` plan: order, and what each failure
    undoes; for a revert drill (``--fail-at``), what the drill does."""
    document = _plan_steps(flow, steps)
    if drill is not None:
        document["drill"] = {
            "fail_at": drill.step,
            "runs": list(drill.runs),
            "then_reverts": list(drill.reverts),
            "not_run": list(drill.not_run),
            "skipped_unless": list(drill.skipped_unless),
        }
    return document


def _plan_steps(flow: str, steps: Sequence[PlannedStep]) -> dict[str, Any]:
    return {
        "flow": flow,
        "state": "VALID",
        "engine": "serial",
        "order": [step.name for step in steps],
        "steps": [
            {
                "name": step.name,
                "kind": step.kind,
                "retry": step.retry,
                "after": list(step.after),
                "skipped_unless": list(step.skipped_unless),
                "retried_by": [
                    {
                        "retry": stage.retry,
                        "policy": stage.policy,
                        "attempts": stage.attempts,
                        "reverts": list(stage.reverts),
                    }
                    for stage in step.retried_by
                ],
                "reverted_on_failure": list(step.reverted_on_failure),
            }
            for step in steps
        ],
    }


def listing_document(catalog: Catalog) -> dict[str, Any]:
    """The ``--list --format json`` document: each namespace's plugins, loaded
    and broken (with why)."""
    document = {}
    for namespace in catalog.namespaces():
        loaded, broken = namespace.scan()
        document[namespace.namespace] = {
            "plugins": [
                {"name": p.name, "target": p.target, "distribution": p.distribution}
                for p in loaded
            ],
            "broken": [
                {"name": b.name, "target": b.target, "error": b.error} for b in broken
            ],
        }
    return document


def failure_report(name: str, phase: str, failure: Any) -> FailureReport:
    """A step's stored failure as the report shows it, with Python's traceback."""
    type_name = failure.exc_type_names[0] if failure.exc_type_names else "Exception"
    exception = f"{type_name.rsplit('.', 1)[-1]}: {failure.exception_str}"
    frames = failure.traceback_str or ""
    if frames and not frames.startswith("Traceback"):
        # Failure keeps the frames only; show it as Python prints tracebacks.
        frames = f"Traceback (most recent call last):\n{frames}{exception}\n"
    return FailureReport(atom=name, phase=phase, exception=exception, traceback=frames)


def report_of(flow_detail: models.FlowDetail) -> RunReport:
    """A stored run as the same report a finished run prints."""
    from opsflow.runs.queries import flow_name_of
    from opsflow.task import made_changes
    from opsflow.views.timings import timing_of

    steps, results, failures = [], {}, []
    unchanged: set[str] = set()
    for detail in flow_detail:
        state = str(detail.state)
        timing = timing_of(detail)
        run = float(timing.get("run") or 0.0)
        revert = float(timing.get("revert") or 0.0)
        steps.append(
            StepRecord(
                detail.name,
                state=state,
                duration=run + revert,
                started_at=timing.get("started_at"),
                reverted_at=timing.get("reverted_at"),
                attempts=int(timing.get("attempts") or 0),
                run_seconds=run,
                revert_seconds=revert,
            )
        )
        if state == states.SUCCESS and detail.kind != "retry":
            results[detail.name] = detail.results
        changed = timing.get("changed")
        if changed is False or (
            changed is None
            and (detail.kind == "retry" or not made_changes(detail.results))
        ):
            unchanged.add(detail.name)
        if detail.failure is not None:
            failures.append(failure_report(detail.name, "execute", detail.failure))
        if detail.revert_failure is not None:
            failures.append(
                failure_report(detail.name, "revert", detail.revert_failure)
            )
    return RunReport(
        run_id=flow_detail.uuid,
        flow=flow_name_of(flow_detail),
        state=str(flow_detail.state or states.PENDING),
        duration=(flow_detail.updated_at - flow_detail.created_at).total_seconds(),
        steps=steps,
        results=results,
        failures=failures,
        unchanged=unchanged,
    )


def stored_report(
    connection: base.Connection, flow_detail: models.FlowDetail
) -> RunReport:
    """A stored run's report, with who runs it or why nobody does."""
    from opsflow.runs import queries

    report = report_of(flow_detail)
    report.interrupted = queries.interruption(connection, flow_detail)
    report.running_by = queries.running_owner(connection, flow_detail)
    return report


def show_document(
    connection: base.Connection,
    flow_detail: models.FlowDetail,
    masker: Masking,
    report: RunReport | None = None,
) -> dict[str, Any]:
    """The ``--show RUN_ID --format json`` document: the run's JSON document
    and, for a submitted run, its jobboard record and who holds it."""
    from opsflow.runs import queries

    if report is None:
        report = stored_report(connection, flow_detail)
    queued = queries.queue_fields(connection, flow_detail)
    return {**json_document(report, masker), **queued}
