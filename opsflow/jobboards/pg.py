"""The ``procrastinate`` jobboard: runs queued in PostgreSQL, run by conductors.

``post`` defers the job ``opsflow.run_flow(flow_uuid=...)`` with
``lock=queueing_lock="flow:<uuid>"``: one run never runs twice at once and
never waits twice. Conductors (``opsflow-conductor``) are procrastinate
workers on ``[procrastinate_jobboard] queue``; procrastinate claims a job
with ``SKIP LOCKED`` and keeps a heartbeat per worker. The job claims the
run's lease (token one generation on), runs the flow with writes fenced by
that token, and ends when the flow does.

Each conductor also runs a reaper, one pass at a time across conductors:
jobs of workers silent for ``stalled_after`` are retried (another conductor
resumes the run from its persisted state), or, past ``max_attempts``
starts, failed with the run ended FAILURE and the reason; PENDING runs that
have no job (a crash between storing and deferring) are deferred again.
A pass holds a transaction-scoped advisory lock on a session whose
``idle_in_transaction_session_timeout`` is ``stalled_after``, and touches it
before each change: a conductor frozen (SIGSTOP, a paused VM) in the middle
of a pass loses its session, and so the lock, after ``stalled_after``
seconds, like it loses its runs, and the next pass runs elsewhere.

A conductor that froze past ``stalled_after`` and came back is a zombie: its
next state write raises ``LeaseLost`` and its run stops there; its worker
then leaves the job row alone, since the job is another worker's by then.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Any

from opsflow import exceptions, states
from opsflow.jobboards import runs
from opsflow.jobboards.base import Jobboard
from opsflow.persistence import leases
from opsflow.runs.service import JOBBOARD_META_KEY

if TYPE_CHECKING:
    from opsflow.runs.service import RunService

__all__ = ["REAPER_LOCK", "ProcrastinateJobboard", "TASK_NAME", "conninfo"]

LOG = logging.getLogger(__name__)

TASK_NAME = "opsflow.run_flow"
#: pg_advisory lock keys: schema set-up, and one reaper pass at a time
#: (both transaction-scoped).
_SCHEMA_LOCK = 0x6F70_7366_0001
REAPER_LOCK = 0x6F70_7366_0002


def conninfo(conf: Any) -> str:
    """The libpq URL of the queue: its own option, else the run store's."""
    from opsflow.persistence.backends.sql_schema import make_url

    url = make_url(
        conf.procrastinate_jobboard.connection or conf.persistence.connection
    )
    if url.get_backend_name() != "postgresql":
        raise exceptions.ConfigurationError(
            "the procrastinate jobboard needs PostgreSQL: set [procrastinate_jobboard]"
            " connection or a postgresql:// [persistence] connection"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def lock_of(flow_uuid: str) -> str:
    return f"flow:{flow_uuid}"


def ensure_schema(dsn: str) -> None:
    """Create procrastinate's tables once (conductors may start together)."""
    import psycopg
    from procrastinate import schema

    with psycopg.connect(dsn) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        row = conn.execute("SELECT to_regclass('procrastinate_jobs')").fetchone()
        if row is None or row[0] is None:
            conn.execute(schema.SchemaManager.get_schema())


class ProcrastinateJobboard(Jobboard):
    """Queue runs in PostgreSQL; ``run_conductor`` runs them."""

    name = "procrastinate"

    def __init__(self, conf: Any, service: RunService) -> None:
        super().__init__(conf, service)
        self.opts = conf.procrastinate_jobboard
        self.dsn = conninfo(conf)
        self.app = self._make_app()
        self._backend: Any = None

    # -- the procrastinate app ------------------------------------------------
    def _make_app(self) -> Any:
        import procrastinate
        from psycopg.conninfo import make_conninfo

        # Named in pg_stat_activity, so that an operator (or a test) sees
        # which conductor holds which session and lock.
        name = f"opsflow {socket.gethostname()} pid {os.getpid()}"
        app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=make_conninfo(self.dsn, application_name=name[:63]),
                min_size=1,
                max_size=4 + self.opts.concurrency,
            )
        )
        retry: Any = False
        if self.opts.max_attempts > 1:
            # Only a store that could not be reached is worth another start;
            # a lost lease means another conductor is on it.
            retry = procrastinate.RetryStrategy(
                max_attempts=self.opts.max_attempts - 1,
                wait=1,
                retry_exceptions={exceptions.StorageFailure},
            )
        app.task(name=TASK_NAME, queue=self.opts.queue, pass_context=True, retry=retry)(
            _run_flow_job
        )
        return app

    def _deferrer(self, flow_uuid: str) -> Any:
        return self.app.configure_task(
            TASK_NAME,
            lock=lock_of(flow_uuid),
            queueing_lock=lock_of(flow_uuid),
            queue=self.opts.queue,
        )

    # -- posting ---------------------------------------------------------------
    def post(self, flow_uuid: str) -> dict[str, Any]:
        from procrastinate import exceptions as pexc

        ensure_schema(self.dsn)
        with self.app.open():
            try:
                job_id = self._deferrer(flow_uuid).defer(flow_uuid=flow_uuid)
            except pexc.AlreadyEnqueued:
                job_id = None
        return {
            "run_id": flow_uuid,
            "jobboard": self.name,
            "queue": self.opts.queue,
            "job_id": job_id,
            "state": states.PENDING,
        }

    def jobs(self, flow_uuids: list[str]) -> dict[str, dict[str, Any]]:
        """The latest job of each run: status, attempts, the worker on it."""
        import psycopg

        if not flow_uuids:
            return {}
        locks = [lock_of(uuid) for uuid in flow_uuids]
        try:
            with psycopg.connect(self.dsn) as conn:
                rows = conn.execute(
                    "SELECT DISTINCT ON (j.lock) j.lock, j.id, j.status, j.attempts,"
                    " w.name FROM procrastinate_jobs j"
                    " LEFT JOIN procrastinate_workers w ON w.id = j.worker_id"
                    " WHERE j.lock = ANY(%s) ORDER BY j.lock, j.id DESC",
                    (locks,),
                ).fetchall()
        except psycopg.Error as exc:
            LOG.warning("job queue %s unreadable: %s", self.opts.queue, exc)
            return {}
        return {
            lock.split(":", 1)[1]: {
                "job_id": job_id,
                "status": str(status),
                "attempts": attempts,
                "worker": worker,
            }
            for lock, job_id, status, attempts, worker in rows
        }

    # -- the conductor -------------------------------------------------------------
    @property
    def backend(self) -> Any:
        if self._backend is None:
            self._backend = self.open_store()
        return self._backend

    def run_conductor(self) -> None:
        """Claim and run queued runs until SIGTERM/SIGINT (``opsflow-conductor``)."""
        ensure_schema(self.dsn)
        _ = self.backend  # upgrade the run store before the first claim
        # Not asyncio.run(): its wait for the default thread pool can hang
        # at exit (see opsflow.cmd.conductor.console_main); every job has
        # ended once the worker returns, so the pool is left to the exit.
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._conduct())
        finally:
            loop.close()

    async def _conduct(self) -> None:
        name = f"opsflow-conductor@{socket.gethostname()}:{os.getpid()}"
        async with self.app.open_async():
            worker = _worker_class()(
                self.app,
                queues=[self.opts.queue],
                name=name,
                concurrency=self.opts.concurrency,
                listen_notify=self.opts.listen_notify,
                fetch_job_polling_interval=self.opts.poll_interval,
                update_heartbeat_interval=self.opts.heartbeat_interval,
                stalled_worker_timeout=self.opts.stalled_after,
                additional_context={"jobboard": self},
                install_signal_handlers=True,
            )
            reaper = asyncio.create_task(self._reap_forever(), name="opsflow-reaper")
            LOG.info("conductor %s on queue %s", name, self.opts.queue)
            try:
                await worker.run()
            finally:
                reaper.cancel()

    def run_job(self, context: Any, flow_uuid: str) -> dict[str, Any]:
        """The job: claim the run's lease, run it fenced, report its end."""
        connection = self.backend.get_connection()
        try:
            flow_detail = connection.get_flow_details(flow_uuid, lazy=True)
        except exceptions.NotFound:
            LOG.warning("job %s: no run %s in the store", context.job.id, flow_uuid)
            return {"run_id": flow_uuid, "state": None}
        if str(flow_detail.state) in states.ENDED_STATES:
            return {"run_id": flow_uuid, "state": str(flow_detail.state)}
        lease = leases.claim(connection, flow_uuid, ttl=self.opts.stalled_after)
        LOG.info(
            "run %s claimed (job %s, attempt %d, token %s)",
            flow_uuid,
            context.job.id,
            context.job.attempts + 1,
            lease.token,
        )
        claim = {"job_id": context.job.id, "attempt": context.job.attempts + 1}
        try:
            with leases.Heartbeat(connection, lease, ttl=self.opts.stalled_after):
                state = runs.run_stored(
                    self.service,
                    self.backend,
                    flow_uuid,
                    lease,
                    should_abort=context.should_abort,
                    claim=claim,
                )
        except leases.LeaseLost as exc:
            LOG.warning("run %s: %s", flow_uuid, exc)
            return {"run_id": flow_uuid, "state": None, "lease_lost": True}
        LOG.info("run %s ended %s", flow_uuid, state)
        return {"run_id": flow_uuid, "state": state}

    # -- the reaper -----------------------------------------------------------------
    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(self.opts.reaper_interval)
            try:
                await self.reap_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next pass tries again
                LOG.exception("reaper pass failed")

    async def reap_once(self) -> None:
        """Hand stalled jobs on (or give them up), re-queue runs without a job.

        One pass at a time across conductors: the pass holds
        ``pg_try_advisory_xact_lock`` in a transaction that PostgreSQL ends
        (terminating the session, which frees the lock) once it has been
        idle for ``stalled_after`` seconds. A session-level lock on an idle
        session would be held for as long as its conductor is frozen, and
        no other reaper could ever run.
        """
        pool = self.app.connector.pool
        async with pool.connection() as conn:
            await conn.set_autocommit(True)
            async with conn.transaction():
                # SET takes no parameters: a whole number of milliseconds.
                idle_ms = max(1000, int(self.opts.stalled_after * 1000))
                await conn.execute(
                    f"SET LOCAL idle_in_transaction_session_timeout = {idle_ms}"
                )
                cursor = await conn.execute(
                    "SELECT pg_try_advisory_xact_lock(%s)", (REAPER_LOCK,)
                )
                row = await cursor.fetchone()
                if not row or not row[0]:
                    return  # another conductor's reaper is at it
                await self._retry_stalled(conn)
                await self._requeue_orphans(conn)

    @staticmethod
    async def _still_holding(conn: Any) -> None:
        """Touch the pass's session before a change: this raises if the
        session was ended (the lock went to another reaper while this one
        was frozen) and restarts its idle clock otherwise."""
        await conn.execute("SELECT 1")

    async def _retry_stalled(self, conn: Any) -> None:
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            queue=self.opts.queue,
            task_name=TASK_NAME,
            seconds_since_heartbeat=self.opts.stalled_after,
        )
        for job in stalled:
            await self._still_holding(conn)
            flow_uuid = job.task_kwargs.get("flow_uuid", "?")
            started = job.attempts + 1
            if started >= self.opts.max_attempts:
                from procrastinate import jobs

                reason = (
                    f"its conductor stopped heartbeating on each of {started} "
                    f"starts (max_attempts={self.opts.max_attempts}): the run "
                    "may kill or hang the process that runs it"
                )
                LOG.error("run %s given up: %s", flow_uuid, reason)
                await asyncio.to_thread(runs.give_up, self.backend, flow_uuid, reason)
                await manager.finish_job(job, jobs.Status.FAILED, delete_job=False)
            else:
                LOG.warning(
                    "run %s: conductor of job %s stalled, re-queued (start %d of %d)",
                    flow_uuid,
                    job.id,
                    started + 1,
                    self.opts.max_attempts,
                )
                await manager.retry_job(job)

    async def _requeue_orphans(self, conn: Any) -> None:
        from procrastinate import exceptions as pexc

        pending = await asyncio.to_thread(self._pending_runs)
        if not pending:
            return
        cursor = await conn.execute(
            "SELECT lock FROM procrastinate_jobs WHERE lock = ANY(%s)"
            " AND status IN ('todo', 'doing')",
            ([lock_of(uuid) for uuid in pending],),
        )
        queued = {row[0] for row in await cursor.fetchall()}
        for flow_uuid in pending:
            if lock_of(flow_uuid) in queued:
                continue
            await self._still_holding(conn)
            LOG.warning("run %s was stored but never queued: queuing it", flow_uuid)
            try:
                await self._deferrer(flow_uuid).defer_async(flow_uuid=flow_uuid)
            except pexc.AlreadyEnqueued:
                continue

    def _pending_runs(self) -> list[str]:
        """PENDING runs of this jobboard stored more than ``stalled_after`` ago."""
        import datetime

        import sqlalchemy as sa

        from opsflow.persistence.backends.sql_schema import flowdetails

        limit = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
            seconds=self.opts.stalled_after
        )
        with self.backend.engine.connect() as conn:
            rows = conn.execute(
                sa.select(flowdetails.c.uuid, flowdetails.c.meta).where(
                    sa.or_(
                        flowdetails.c.state.is_(None),
                        flowdetails.c.state == states.PENDING,
                    ),
                    flowdetails.c.created_at < limit,
                )
            ).all()
        return [
            row.uuid
            for row in rows
            if (row.meta or {}).get(JOBBOARD_META_KEY, {}).get("driver") == self.name
        ]

    def close(self) -> None:
        if self._backend is not None:
            self._backend.close()
            self._backend = None


def _run_flow_job(context: Any, flow_uuid: str) -> dict[str, Any]:
    """``opsflow.run_flow``: runs in a conductor's worker thread."""
    board: ProcrastinateJobboard = context.additional_context["jobboard"]
    return board.run_job(context, flow_uuid)


def _worker_class() -> Any:
    from procrastinate import worker as worker_module

    class Worker(worker_module.Worker):
        """A procrastinate worker that leaves alone jobs it no longer holds.

        A job whose worker froze past ``stalled_after`` was retried and taken
        by another worker; when the frozen one comes back and its run stops
        (``LeaseLost``), finishing or retrying the job would clobber the new
        holder's. procrastinate pinned (setup.cfg); this hook is its only
        private one.
        """

        async def _persist_job_status(self, job: Any, *args: Any, **kw: Any) -> None:
            row = await self.app.connector.execute_query_one_async(
                "SELECT status, worker_id FROM procrastinate_jobs WHERE id = %(id)s",
                id=job.id,
            )
            if (
                row is None
                or row["status"] != "doing"
                or (row["worker_id"] is not None and row["worker_id"] != self.worker_id)
            ):
                LOG.warning("job %s is no longer this conductor's: left alone", job.id)
                self._job_ids_to_abort.pop(job.id, None)
                return
            await super()._persist_job_status(job, *args, **kw)

    return Worker
