"""The picture of a stored run: its flow's graph, coloured by step state.

``opsflow-run --show RUN_ID --graph`` writes it, ``opsflow-web`` serves it
as SVG. The run's flow is built again by its plugin to draw its links; a
run whose flow cannot be rebuilt is drawn from its stored steps.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from opsflow.states import PENDING, REVERT_FAILURE, REVERTED

if TYPE_CHECKING:
    from opsflow.runs.service import RunService, StoredRun

__all__ = ["picture_of_stored", "run_picture"]


def picture_of_stored(service: RunService, stored: StoredRun) -> Any:
    """The picture of ``stored``, its flow rebuilt from the recorded inputs
    when it needs no secrets and its plugin still builds it."""
    from opsflow.storage import STORE_META_KEY

    flow_detail, record = stored.flow_detail, stored.record
    flow = None
    if record is not None and not record.factory_secrets:
        with contextlib.suppress(Exception):  # drawn from the stored steps then
            flow = service.lookup(record.flow).rebuild(
                record, flow_detail.meta.get(STORE_META_KEY) or {}, {}
            )
    return run_picture(flow_detail, flow)


def run_picture(flow_detail: Any, flow: Any | None) -> Any:
    """The picture of a stored run: its flow's graph coloured by state.

    ``flow`` is the run's flow built again by its plugin; when it cannot be
    (its plugin or file gone, secrets the factory needs) or no longer has
    the run's steps, the steps are drawn in the order stored, without links,
    and the picture says that its links are missing.
    """
    from opsflow.runs.queries import flow_name_of
    from opsflow.views import pictures
    from opsflow.views.timings import timing_of

    states = {d.name: str(d.state) for d in flow_detail}
    timings = {d.name: timing_of(d) for d in flow_detail}
    durations = {
        name: float(t.get("run") or 0.0) + float(t.get("revert") or 0.0)
        for name, t in timings.items()
    }
    attempts = {name: int(t.get("attempts") or 0) for name, t in timings.items()}
    reverted = [
        d.name for d in flow_detail if str(d.state) in (REVERTED, REVERT_FAILURE)
    ]
    compilation = _compile(flow) if flow is not None else None
    note = ""
    if compilation is None or not set(states) <= set(compilation.order):
        compilation = _Stored(flow_detail)
        note = (
            "links are missing: the run's flow could not be built again as it "
            "ran; its steps are drawn in the order stored"
        )
    failed = [d.name for d in flow_detail if d.failure is not None]
    position = {name: i for i, name in enumerate(compilation.order)}
    # In the order the reverts ended; a run without timings: newest first.
    reverted.sort(
        key=lambda n: (timings[n].get("reverted_at") or 0.0, -position.get(n, 0))
    )
    return pictures.picture_of(
        flow_name_of(flow_detail),
        compilation,
        states=states,
        durations=durations,
        attempts=attempts,
        revert_path=reverted,
        run_id=flow_detail.uuid,
        run_state=str(flow_detail.state or PENDING),
        failed=failed,
        note=note,
    )


def _compile(flow: Any) -> Any:
    from opsflow import engines

    return engines.load(flow).compilation


class _Stored:
    """A compilation-like view of a run whose flow cannot be rebuilt."""

    def __init__(self, flow_detail: Any) -> None:
        from types import SimpleNamespace

        self.order = tuple(d.name for d in flow_detail)
        self.nodes = {
            d.name: SimpleNamespace(
                name=d.name,
                atom=None,
                is_retry=d.kind == "retry",
                path=(),
                successors=[],
                deciders=(),
            )
            for d in flow_detail
        }
