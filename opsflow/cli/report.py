"""Everything ``opsflow-run`` prints on stdout: summaries, JSON, lists, plans.

Every value goes through the run's :class:`~opsflow.cli.masking.Masker`
first, so a secret never reaches a summary or a JSON document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from opsflow import states
from opsflow.cli.masking import Masker
from opsflow.cli.progress import StepRecord, format_seconds
from opsflow.task import made_changes
from opsflow.views.plan import PlannedStep

if TYPE_CHECKING:
    from opsflow.persistence import models
    from opsflow.plugins.catalog import Catalog

__all__ = [
    "FailureReport",
    "RunReport",
    "interrupted_note",
    "json_document",
    "not_reverted",
    "print_details",
    "print_history",
    "print_listing",
    "print_plan",
    "print_summary",
    "recap",
    "report_of",
    "revert_command",
]


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


def _recap_line(report: RunReport) -> str:
    counts = recap(report)
    return "recap: " + "  ".join(f"{key}={counts[key]}" for key in RECAP_KEYS)


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


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    import datetime

    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.isoformat(timespec="milliseconds")


def json_document(report: RunReport, masker: Masker) -> dict[str, Any]:
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
                "started_at": _iso(step.started_at),
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


_STATE_WORDS = {
    "SUCCESS": "every step succeeded",
    "REVERTED": "a step failed and every change was undone",
    "FAILURE": "a revert failed: the steps below need a person",
    "SUSPENDED": "suspended: resumable with --resume",
}


def print_summary(report: RunReport, masker: Masker, out: TextIO) -> None:
    """The human summary: final state, each step, and what failed."""
    words = _summary_words(report)
    out.write(
        f"flow {report.flow}: {report.state} ({words}) in {report.duration:.2f}s\n"
        f"run {report.run_id}\n"
    )
    width = max([len(step.name) for step in report.steps] + [4])
    out.write(f"  {'STEP':<{width}}  {'STATE':<14}  DURATION  RESULT\n")
    for step in report.steps:
        result = _short(masker.value(jsonable(report.results.get(step.name))))
        out.write(
            f"  {step.name:<{width}}  {step.state:<14}  {step.duration:7.2f}s"
            f"  {result}".rstrip()
            + "\n"
        )
    for failure in report.failures:
        verb = "failed" if failure.phase == "execute" else "could not be reverted"
        out.write(f"step {failure.atom} {verb}: {masker.text(failure.exception)}\n")
    if report.failures:
        where = report.traceback_path or "not written (run with --debug to see it)"
        out.write(f"traceback: {where}\n")
    _print_left(report, out)
    out.write(_recap_line(report) + "\n")


def _summary_words(report: RunReport) -> str:
    """What the state means; a SUCCESS with skipped steps says so."""
    skipped = recap(report)["skipped"]
    if report.state == states.SUCCESS and skipped:
        return f"every step that ran succeeded, {skipped} skipped"
    return _STATE_WORDS.get(report.state, "")


def _print_left(report: RunReport, out: TextIO) -> None:
    left = not_reverted(report)
    if left:
        out.write(f"not reverted (needs a person): {', '.join(left)}\n")
    command = revert_command(report)
    if command and report.state == "FAILURE":
        out.write(f"after fixing the cause, retry the reverts with: {command}\n")
    elif report.interrupted:
        out.write(
            f"resume with: {report.interrupted['resume_command']}, or undo it "
            f"with: {command}\n"
        )
    elif command:
        out.write(f"resume with --resume {report.run_id}, or undo it with: {command}\n")


def _state_words(report: RunReport) -> str:
    """What a run's state means, for a stored run also who is on it."""
    if report.interrupted:
        owner = report.interrupted.get("owner")
        gone = f"its owner {owner} is gone" if owner else "no process runs it"
        return f"interrupted: {gone}"
    if report.running_by:
        return f"being run by {report.running_by}"
    return _summary_words(report)


def print_details(report: RunReport, masker: Masker, out: TextIO) -> None:
    """``--show RUN_ID``: each step's state, start, duration and attempts,
    every failure with its traceback, and what is left to undo."""
    words = _state_words(report)
    out.write(f"run {report.run_id} of flow {report.flow}: {report.state} ({words})\n")
    out.write(f"took {format_seconds(report.duration)}\n")
    width = max([len(step.name) for step in report.steps] + [4])
    out.write(
        f"  {'STEP':<{width}}  {'STATE':<14}  {'STARTED (UTC)':<23}  "
        "    RUN  REVERT  ATTEMPTS  RESULT\n"
    )
    for step in report.steps:
        started = (_iso(step.started_at) or "-").replace("+00:00", "")
        result = _short(masker.value(jsonable(report.results.get(step.name))), 40)
        revert = f"{step.revert_seconds:6.2f}s" if step.revert_seconds else "      -"
        out.write(
            f"  {step.name:<{width}}  {step.state:<14}  {started:<23}  "
            f"{step.run_seconds:6.2f}s {revert}  {step.attempts:>8}  {result}".rstrip()
            + "\n"
        )
    for failure in report.failures:
        verb = "failed" if failure.phase == "execute" else "could not be reverted"
        out.write(f"\nstep {failure.atom} {verb}: {masker.text(failure.exception)}\n")
        for line in masker.text(failure.traceback).rstrip().splitlines():
            out.write(f"    {line}\n")
    if report.failures:
        out.write("\n")
    _print_left(report, out)
    out.write(_recap_line(report) + "\n")


def print_plan(
    flow: str, steps: Sequence[PlannedStep], out: TextIO, as_json: bool
) -> None:
    """The ``--dry-run`` plan: order, and what each failure would undo."""
    if as_json:
        document = {
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
        out.write(json.dumps(document, indent=2) + "\n")
        return
    out.write(
        f"flow {flow}: inputs complete, {len(steps)} steps; would run "
        "(serial order; nothing runs now):\n"
    )
    for index, step in enumerate(steps, start=1):
        kind = " (retry controller)" if step.kind == "retry" else ""
        out.write(f"  {index}. {step.name}{kind}\n")
        for condition in step.skipped_unless:
            out.write(f"       runs only if {condition}, else skipped\n")
        for stage in step.retried_by:
            undo = ", ".join(stage.reverts)
            out.write(
                f"       if it fails, {stage.retry} ({stage.policy}) reverts "
                f"{undo} and runs them again\n"
            )
        prefix = "when retries run out" if step.retried_by else "if it fails"
        undo = ", ".join(step.reverted_on_failure)
        out.write(f"       {prefix}, reverts: {undo}\n")


def print_listing(catalog: Catalog, out: TextIO, as_json: bool) -> None:
    """``--list``: every namespace's plugins, loaded, and the broken ones with why."""
    sections = [(ns.namespace, *ns.scan()) for ns in catalog.namespaces()]
    if as_json:
        document = {
            namespace: {
                "plugins": [
                    {"name": p.name, "target": p.target, "distribution": p.distribution}
                    for p in loaded
                ],
                "broken": [
                    {"name": b.name, "target": b.target, "error": b.error}
                    for b in broken
                ],
            }
            for namespace, loaded, broken in sections
        }
        out.write(json.dumps(document, indent=2) + "\n")
        return
    from opsflow.yamlflows.catalog import YamlFlowFactory

    for namespace, loaded, broken in sections:
        out.write(f"{namespace}:\n")
        if not loaded and not broken:
            out.write("  (none installed)\n")
        for plugin in loaded:
            about = _first_doc_line(plugin.plugin)
            suffix = f"  {about}" if about else ""
            if isinstance(plugin.plugin, YamlFlowFactory):
                suffix += f"  (file {plugin.plugin.path})"
            out.write(f"  {plugin.name}{suffix}\n")
        for item in broken:
            out.write(f"  {item.name}  BROKEN: {item.error}\n")


def print_history(rows: Sequence[Mapping[str, Any]], out: TextIO) -> None:
    """The text form of ``--history``."""
    if not rows:
        out.write("no runs recorded\n")
        return
    width = max(len(row["flow"]) for row in [*rows, {"flow": "FLOW"}])
    out.write(f"{'RUN_ID':<36}  {'FLOW':<{width}}  {'STATE':<10}  STARTED (UTC)\n")
    for row in rows:
        note = ""
        if row.get("interrupted"):
            note = f"  {interrupted_note(row['interrupted'])}"
        out.write(
            f"{row['run_id']:<36}  {row['flow']:<{width}}  {row['state']:<10}  "
            f"{row['started_at']}{note}\n"
        )


def interrupted_note(interrupted: Mapping[str, Any]) -> str:
    """One line on an interrupted run: whose it was, and the commands."""
    owner = interrupted.get("owner")
    gone = f"its owner {owner} is gone" if owner else "no process runs it"
    return (
        f"interrupted, {gone}: {interrupted['resume_command']} "
        f"(or {interrupted['revert_command']} to undo it)"
    )


def report_of(flow_detail: models.FlowDetail) -> RunReport:
    """A stored run as the same report a finished run prints."""
    from opsflow.cli.runner import failure_report
    from opsflow.runs.queries import flow_name_of
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


def _short(value: Any, limit: int = 60) -> str:
    """A result on one summary line: JSON, cut to ``limit`` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_doc_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""
