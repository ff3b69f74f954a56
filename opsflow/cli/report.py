"""Everything ``opsflow-run`` prints on stdout: summaries, JSON, lists, plans.

The data and JSON shapes come from :mod:`opsflow.runs.report` (the web
view serves the same); this module writes them out. Every value goes
through the run's :class:`~opsflow.cli.masking.Masker` first, so a secret
never reaches a summary or a JSON document.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from opsflow.cli.columns import Listing
from opsflow.cli.masking import Masker
from opsflow.cli.progress import format_seconds
from opsflow.runs.report import (
    FailureReport,
    RunReport,
    iso_ms,
    json_document,
    jsonable,
    listing_document,
    not_reverted,
    plan_document,
    recap,
    report_of,
    revert_command,
)
from opsflow.views.plan import DrillPlan, PlannedStep

if TYPE_CHECKING:
    from opsflow.plugins.catalog import Catalog

__all__ = [
    "FailureReport",
    "RunReport",
    "interrupted_note",
    "json_document",
    "not_reverted",
    "history_listing",
    "plugin_listing",
    "print_details",
    "print_history",
    "print_listing",
    "print_plan",
    "print_summary",
    "recap",
    "report_of",
    "revert_command",
    "steps_listing",
]


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
    if report.failures and report.traceback_path:
        out.write(f"traceback: {report.traceback_path}\n")
    _print_left(report, out)
    out.write(_recap_line(report) + "\n")


def _summary_words(report: RunReport) -> str:
    """What the state means; a SUCCESS with skipped steps says so."""
    skipped = recap(report)["skipped"]
    if report.state == "SUCCESS" and skipped:
        return f"every step that ran succeeded, {skipped} skipped"
    return _STATE_WORDS.get(report.state, "")


def _recap_line(report: RunReport) -> str:
    counts = recap(report)
    return "recap: " + "  ".join(f"{key}={value}" for key, value in counts.items())


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
        started = (iso_ms(step.started_at) or "-").replace("+00:00", "")
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
    flow: str,
    steps: Sequence[PlannedStep],
    out: TextIO,
    as_json: bool,
    drill: DrillPlan | None = None,
) -> None:
    """The ``--dry-run`` plan: order, and what each failure would undo; for
    a revert drill, what runs, where it fails and what is then reverted."""
    if as_json:
        document = plan_document(flow, steps, drill)
        out.write(json.dumps(document, indent=2) + "\n")
        return
    if drill is not None:
        _print_drill_plan(flow, steps, drill, out)
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


def _print_drill_plan(
    flow: str, steps: Sequence[PlannedStep], drill: DrillPlan, out: TextIO
) -> None:
    by_name = {step.name: step for step in steps}
    out.write(
        f"flow {flow}: revert drill (--fail-at {drill.step}); would run "
        "(serial order; nothing runs now):\n"
    )
    for index, name in enumerate(drill.runs, start=1):
        kind = " (retry controller)" if by_name[name].kind == "retry" else ""
        out.write(f"  {index}. {name}{kind}\n")
        for condition in by_name[name].skipped_unless:
            out.write(f"       runs only if {condition}, else skipped\n")
    out.write(
        f"then the run fails on purpose right after {drill.step} and reverts, "
        f"in this order: {', '.join(drill.reverts)}\n"
    )
    if drill.not_run:
        out.write(f"never run: {', '.join(drill.not_run)}\n")
    for condition in drill.skipped_unless:
        out.write(
            f"if {drill.step} is skipped (it runs only if {condition}), the "
            "drill does not fire: the run goes on and exits 64\n"
        )
    out.write("the drill ends REVERTED (exit 1) when every revert succeeds\n")


def print_listing(catalog: Catalog, out: TextIO, as_json: bool) -> None:
    """``--list``: every namespace's plugins, loaded, and the broken ones with why."""
    if as_json:
        out.write(json.dumps(listing_document(catalog), indent=2) + "\n")
        return
    from opsflow.plugins.flows import yaml_flow_path

    sections = [(ns.namespace, *ns.scan()) for ns in catalog.namespaces()]
    for namespace, loaded, broken in sections:
        out.write(f"{namespace}:\n")
        if not loaded and not broken:
            out.write("  (none installed)\n")
        for plugin in loaded:
            about = _first_doc_line(plugin.plugin)
            suffix = f"  {about}" if about else ""
            path = yaml_flow_path(plugin.plugin)
            if path is not None:
                suffix += f"  (file {path})"
            out.write(f"  {plugin.name}{suffix}\n")
        for item in broken:
            out.write(f"  {item.name}  BROKEN: {item.error}\n")


def plugin_listing(catalog: Catalog) -> Listing:
    """``--list`` as rows: every plugin of every namespace, broken ones too."""
    rows: list[dict[str, Any]] = []
    for namespace in catalog.namespaces():
        loaded, broken = namespace.scan()
        for plugin in loaded:
            rows.append(
                {
                    "namespace": namespace.namespace,
                    "name": plugin.name,
                    "status": "ok",
                    "description": _first_doc_line(plugin.plugin),
                    "target": plugin.target,
                    "distribution": plugin.distribution,
                }
            )
        for item in broken:
            rows.append(
                {
                    "namespace": namespace.namespace,
                    "name": item.name,
                    "status": "BROKEN",
                    "description": item.error,
                    "target": item.target,
                    "distribution": None,
                }
            )
    columns = ("namespace", "name", "status", "description", "target")
    return Listing((*columns, "distribution"), rows)


def history_listing(rows: Sequence[Mapping[str, Any]]) -> Listing:
    """``--history`` as rows (an interrupted run's note in ``note``)."""
    columns = ("run_id", "flow", "state", "started_at", "updated_at", "note")
    return Listing(
        columns,
        [
            {
                **row,
                "note": interrupted_note(row["interrupted"])
                if row.get("interrupted")
                else None,
            }
            for row in rows
        ],
    )


def steps_listing(report: RunReport, masker: Masker) -> Listing:
    """The steps of ``--show RUN_ID`` as rows, results masked."""
    columns = (
        "step",
        "state",
        "started_at",
        "run_seconds",
        "revert_seconds",
        "attempts",
        "result",
    )
    rows = [
        {
            "step": step.name,
            "state": step.state,
            "started_at": iso_ms(step.started_at),
            "run_seconds": round(step.run_seconds, 3),
            "revert_seconds": round(step.revert_seconds, 3),
            "attempts": step.attempts,
            "result": masker.value(jsonable(report.results.get(step.name))),
        }
        for step in report.steps
    ]
    return Listing(columns, rows)


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


def _short(value: Any, limit: int = 60) -> str:
    """A result on one summary line: JSON, cut to ``limit`` characters."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _first_doc_line(obj: Any) -> str:
    """A plugin's first docstring sentence, reStructuredText markup off."""
    from opsflow.runs.describe import first_sentence

    return first_sentence(getattr(obj, "__doc__", None))
