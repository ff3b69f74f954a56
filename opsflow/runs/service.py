"""Starting a run, and taking one over: one lookup, one engine, one compile.

:class:`RunService` is what ``opsflow-run``, ``--submit``, the jobboards and
``opsflow-conductor`` share. A fresh run goes through :meth:`RunService.prepare`
(the flow looked up and built, its engine compiled and validated, nothing
written) and then :meth:`RunService.start` or :meth:`RunService.submit`
(the same engine recorded in the store); a recorded run goes through
:meth:`RunService.inspect` (read it, check it can be taken over, no lease
needed) and :meth:`RunService.take_over` (under the caller's lease: the flow
built again from its record, and its engine). Leases, heartbeats and host
locks stay with the caller, which decides how long it holds a run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opsflow import exceptions
from opsflow.persistence import base, models
from opsflow.redaction import NO_SECRETS, Redactor
from opsflow.runs import drill, store
from opsflow.runs.options import EngineOptions
from opsflow.runs.record import (
    RUN_META_KEY,
    SOURCE_META_KEY,
    RunInputs,
    RunRecord,
    plugin_versions,
)
from opsflow.runs.source import FlowSource, missing_inputs
from opsflow.storage import STORE_META_KEY

if TYPE_CHECKING:
    from oslo_config import cfg

    from opsflow.engines.engine import ActionEngine
    from opsflow.flow import Flow
    from opsflow.plugins.catalog import Catalog

__all__ = [
    "JOBBOARD_META_KEY",
    "PreparedRun",
    "RunService",
    "StoredRun",
    "plugin_environment",
]

#: Flow detail meta key of a jobboard's record of a submitted run.
JOBBOARD_META_KEY = "jobboard"
#: The environment variable plugin code reads the state directory from.
STATE_PATH_VARIABLE = "OPSFLOW_STATE_PATH"


@dataclasses.dataclass(frozen=True)
class PreparedRun:
    """A run checked and ready: its flow built, its engine compiled and validated."""

    source: FlowSource
    flow: Flow
    engine: ActionEngine
    record: RunRecord
    options: EngineOptions

    @property
    def run_id(self) -> str:
        return self.engine.storage.flow_uuid


@dataclasses.dataclass(frozen=True)
class StoredRun:
    """A recorded run as the store holds it."""

    book: models.LogBook
    flow_detail: models.FlowDetail
    record: RunRecord | None

    @property
    def run_id(self) -> str:
        return self.flow_detail.uuid

    @property
    def state(self) -> str:
        return str(self.flow_detail.state or "PENDING")


@contextlib.contextmanager
def plugin_environment(conf: cfg.ConfigOpts) -> Iterator[None]:
    """Tell plugin code where the state directory is, while the command runs.

    Flow factories and tasks (in worker processes too) read it from
    ``OPSFLOW_STATE_PATH``; the variable is put back as it was afterwards.
    """
    before = os.environ.get(STATE_PATH_VARIABLE)
    os.environ[STATE_PATH_VARIABLE] = os.path.expanduser(str(conf.state_path))
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STATE_PATH_VARIABLE, None)
        else:
            os.environ[STATE_PATH_VARIABLE] = before


class RunService:
    """Builds the engines of runs, fresh or recorded, from one configuration."""

    def __init__(self, conf: cfg.ConfigOpts, catalog: Catalog) -> None:
        self.conf = conf
        self.catalog = catalog

    # -- a fresh run ------------------------------------------------------
    def lookup(self, name: str) -> FlowSource:
        """The flow ``name`` (looked up once: keep the source)."""
        return FlowSource.lookup(self.catalog, name)

    def prepare(
        self,
        source: FlowSource,
        inputs: RunInputs,
        flags: Mapping[str, Any] | None = None,
        redactor: Redactor = NO_SECRETS,
        fail_at: str | None = None,
    ) -> PreparedRun:
        """Build, compile and validate a run of ``source`` (nothing is written).

        ``flags`` are the command line's engine options (None: not given);
        ``fail_at`` makes the run a revert drill that fails right after
        that step (:mod:`opsflow.runs.drill`).

        :raises UsageError: an input the flow needs was not given, or
            ``fail_at`` is not one of its steps (exit 64).
        """
        flow = source.build(inputs.store, redactor)
        if fail_at is not None:
            flow = drill.fail_after(flow, fail_at)
        options = EngineOptions.resolve(self.conf, flags)
        self._check_executor(options.executor, flags)
        engine = self._engine(flow, inputs, options)
        try:
            engine.validate()
        except exceptions.MissingDependencies as exc:
            raise missing_inputs(source.name, exc) from exc
        record = RunRecord.create(
            source.name,
            source.factory_arguments(inputs.store),
            inputs.secret_keys,
            plugin_versions(
                source.entry_point, (node.atom for node in engine.compilation)
            ),
            engine=options.engine,
            executor=options.executor,
            max_workers=options.max_workers,
            task_timeout=options.task_timeout,
            fail_at=fail_at,
        )
        return PreparedRun(source, flow, engine, record, options)

    def start(self, prepared: PreparedRun, backend: base.Backend) -> models.FlowDetail:
        """Record the prepared run in ``backend``; its engine writes there now on."""
        flow_detail = prepared.engine.storage.flow_detail
        flow_detail.meta[RUN_META_KEY] = prepared.record.to_meta()
        source = prepared.source.source_meta()  # a YAML flow's file and sha256
        if source:
            flow_detail.meta[SOURCE_META_KEY] = source
        prepared.engine.save_to(backend)
        return flow_detail

    def submit(
        self, prepared: PreparedRun, backend: base.Backend, board: str, now: str
    ) -> models.FlowDetail:
        """Record the prepared run PENDING for jobboard ``board`` (run later)."""
        if prepared.record.secrets:
            raise exceptions.UsageError("--submit: secrets are never stored, give none")
        flow_detail = prepared.engine.storage.flow_detail
        flow_detail.meta[JOBBOARD_META_KEY] = {"driver": board, "submitted_at": now}
        return self.start(prepared, backend)

    # -- a recorded run ---------------------------------------------------
    def inspect(self, connection: base.Connection, run_id: str) -> StoredRun:
        """The run ``run_id`` as stored (``RunNotFound``: exit 64)."""
        book, flow_detail = store.find_run(connection, run_id)
        return StoredRun(book, flow_detail, RunRecord.from_meta(flow_detail.meta))

    def check_takeover(
        self, stored: StoredRun, secrets: Mapping[str, Any], force: bool = False
    ) -> FlowSource:
        """Refuse a take-over whose flow cannot be built as it started; its source.

        :raises UsageError: the run was not started by opsflow, or its
            secrets were not given again (exit 64).
        :raises Unavailable: its plugins' versions changed (exit 69), or
            :class:`FlowSourceChanged`: its flow file did; unless ``force``.
        """
        run_id, record = stored.run_id, stored.record
        if record is None:
            raise exceptions.UsageError(
                f"run {run_id} was not started by opsflow-run: its flow cannot be "
                "rebuilt"
            )
        missing = record.missing_secrets(secrets)
        if missing:
            flags = " ".join(f"--secret {key}=..." for key in missing)
            raise exceptions.UsageError(
                f"run {run_id} needs its secrets again (they are never stored): "
                f"{', '.join(missing)}; give them with {flags}"
            )
        changes = record.version_changes()
        if changes and not force:
            raise exceptions.Unavailable(
                f"run {run_id} was started with other plugin versions "
                f"({'; '.join(changes)}); resuming could run different code: "
                "install the same versions, or resume anyway with --force"
            )
        source = self.lookup(record.flow)
        source.check_unchanged(
            run_id, stored.flow_detail.meta.get(SOURCE_META_KEY), force
        )
        return source

    def take_over(
        self,
        backend: base.ConnectionSource,
        stored: StoredRun,
        source: FlowSource,
        secrets: Mapping[str, Any],
        flags: Mapping[str, Any] | None = None,
        redactor: Redactor = NO_SECRETS,
    ) -> ActionEngine:
        """The engine of a recorded run, writing through ``backend``.

        The caller holds the run's lease and has read ``stored`` again under
        it (:meth:`inspect`); ``backend`` may be a fenced one
        (:class:`~opsflow.persistence.leases.FencedBackend`).
        """
        assert stored.record is not None  # check_takeover refuses a run without one
        flow_detail = stored.flow_detail
        flow = source.rebuild(
            stored.record, flow_detail.meta.get(STORE_META_KEY) or {}, secrets, redactor
        )
        options = EngineOptions.resolve(self.conf, flags, stored.record)
        inputs = RunInputs(store=dict(secrets), secret_keys=frozenset(secrets))
        return self._engine(
            flow,
            inputs,
            options,
            backend=backend,
            flow_detail=flow_detail,
            book=stored.book,
        )

    # -- engines ----------------------------------------------------------
    def _engine(
        self,
        flow: Flow,
        inputs: RunInputs,
        options: EngineOptions,
        **persistence: Any,
    ) -> ActionEngine:
        """An engine for ``flow``: public inputs in its store, secrets transient."""
        from opsflow import engines, executors
        from opsflow.engines.helpers import engine_class

        kwargs = options.engine_kwargs()
        # The engine's own default driver unless one is chosen, from this
        # service's catalog and configuration.
        kwargs["executor"] = executors.load(
            options.executor or engine_class(options.engine).default_executor,
            options.max_workers,
            conf=self.conf,
            catalog=self.catalog,
        )
        engine = engines.load(
            flow, store=inputs.public or None, **kwargs, **persistence
        )
        if inputs.secrets:
            engine.storage.inject_secrets(inputs.secrets)
        return engine

    def _check_executor(
        self, name: str | None, flags: Mapping[str, Any] | None
    ) -> None:
        """The executor is an installed driver; else a ``ConfigError`` saying
        where the name came from (a flag, or the file and option)."""
        from opsflow.conf.loader import where_set
        from opsflow.plugins import executors as drivers

        if flags and flags.get("executor") is not None:
            where: dict[str, Any] = {"source": "--executor", "option": None}
        else:
            path, _value = where_set(self.conf, "engine", "executor")
            where = {"source": path, "option": "[engine] executor"}
        drivers.resolve_executor(self.catalog.executors, name, **where)
