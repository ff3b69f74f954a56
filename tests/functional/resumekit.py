"""A journaling flow plugin for the resume and crash tests, and helpers.

The plugin distribution ``opsflow-crashkit`` is written into a temporary
directory (package plus ``.dist-info`` with its entry points) that the
subprocesses get on ``PYTHONPATH``, so ``opsflow-run`` finds it through
stevedore exactly as an installed plugin, and a test can change its
version between a run and its resume.

Each task appends ``<event> <task>`` lines to a journal file with
``fsync``: ``X`` when its execute finished its work, ``R`` when its revert
did. A SIGKILL can never lose a line that was written.

The ``crash-probe`` flow's steps journal ``S <task> <pid>`` when their
execute starts and ``E <task> <pid>`` when it ends (``U``/``V`` for a
revert), so that a reader can tell two runs of one step that overlapped in
time; a step may fork a helper process that does its work (``helper``
seconds, journaled ``H``/``h``), as steps that start daemons do. The
``crash-raise`` flow's step ``raiser`` raises the exception named by
``raises`` (``SystemExit``, ``KeyboardInterrupt``, ...).
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from typing import Any

PLUGIN = '''
import os
import time

from opsflow import task
from opsflow.patterns import linear_flow, unordered_flow


def _journal(path, line):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


class Step(task.Task):
    def __init__(self, name, journal, delay, fails=False, needs_secret=False):
        requires = ["token"] if needs_secret else []
        super().__init__(name=name, requires=requires)
        self.journal = journal
        self.delay = delay
        self.fails = fails

    def execute(self, token=None):
        time.sleep(self.delay)
        if self.fails:
            _journal(self.journal, "F " + self.name)
            raise RuntimeError("injected failure in " + self.name)
        _journal(self.journal, "X " + self.name)
        return {"step": self.name}

    def revert(self, *args, **kwargs):
        time.sleep(self.delay)
        _journal(self.journal, "R " + self.name)


def chain(journal, steps=30, fail_at=-1, delay=0.0, token=None):
    flow = linear_flow.Flow("chain")
    for i in range(steps):
        flow.add(
            Step("step-%02d" % i, journal, delay, fails=(i == fail_at),
                 needs_secret=token is not None and i == 0)
        )
    return flow


class Probe(task.Task):
    """A step that journals when each of its runs starts and ends."""

    def __init__(self, name, journal, delay, helper=0.0, fails=False):
        super().__init__(name=name)
        self.journal = journal
        self.delay = delay
        self.helper = helper
        self.fails = fails

    def execute(self):
        _journal(self.journal, "S %s %d" % (self.name, os.getpid()))
        if self.helper:
            self._run_helper()
        time.sleep(self.delay)
        if self.fails:
            raise RuntimeError("injected failure in " + self.name)
        _journal(self.journal, "E %s %d" % (self.name, os.getpid()))
        return {"step": self.name}

    def _run_helper(self):
        pid = os.fork()
        if pid == 0:  # the helper: journals, works, journals, exits
            try:
                _journal(self.journal, "H %s %d" % (self.name, os.getpid()))
                time.sleep(self.helper)
                _journal(self.journal, "h %s %d" % (self.name, os.getpid()))
            finally:
                os._exit(0)
        os.waitpid(pid, 0)

    def revert(self, *args, **kwargs):
        _journal(self.journal, "U %s %d" % (self.name, os.getpid()))
        time.sleep(self.delay)
        _journal(self.journal, "V %s %d" % (self.name, os.getpid()))


def probe(journal, steps=3, delay=0.5, helper=0.0, fail_at=-1, build_delay=0.0,
          width=1):
    """``steps`` probes in a line or, with ``width`` > 1, in a line of
    unordered blocks of ``width`` (for the parallel engine)."""
    if build_delay:  # a slow factory: opsflow-run is busy before any step
        _journal(journal, "B factory %d" % os.getpid())
        time.sleep(build_delay)
    probes = [
        Probe("step-%02d" % i, journal, delay, helper=helper, fails=i == fail_at)
        for i in range(steps)
    ]
    flow = linear_flow.Flow("probe")
    if width == 1:
        return flow.add(*probes)
    for first in range(0, steps, width):
        block = unordered_flow.Flow("block-%02d" % first)
        flow.add(block.add(*probes[first:first + width]))
    return flow


class Raiser(task.Task):
    """Raises ``raises`` (an exception class name of builtins) from execute."""

    def __init__(self, name, journal, raises):
        super().__init__(name=name)
        self.journal = journal
        self.raises = raises

    def execute(self):
        import builtins

        _journal(self.journal, "F " + self.name)
        raise getattr(builtins, self.raises)("raised by " + self.name)

    def revert(self, *args, **kwargs):
        _journal(self.journal, "R " + self.name)


def raising(journal, raises="SystemExit"):
    return linear_flow.Flow("raising").add(
        Step("before", journal, 0.0),
        Raiser("raiser", journal, raises),
        Step("after", journal, 0.0),
    )


def blocks(journal, steps=30, width=5, fail_at=-1, delay=0.0):
    """Linear blocks of ``width`` independent steps (for the parallel engine)."""
    flow = linear_flow.Flow("blocks")
    for b in range(steps // width):
        block = unordered_flow.Flow("block-%d" % b)
        for j in range(width):
            i = b * width + j
            block.add(Step("step-%02d" % i, journal, delay, fails=(i == fail_at)))
        flow.add(block)
    return flow
'''


def install_plugin(root: str, version: str = "1.0") -> str:
    """Write the plugin distribution under ``root``; returns the path entry."""
    site = os.path.join(root, "site")
    package = os.path.join(site, "opsflow_crashkit")
    os.makedirs(package, exist_ok=True)
    with open(os.path.join(package, "__init__.py"), "w") as handle:
        handle.write(textwrap.dedent(PLUGIN))
    set_plugin_version(site, version)
    return site


def set_plugin_version(site: str, version: str) -> None:
    for name in os.listdir(site):
        if name.endswith(".dist-info"):
            for item in os.listdir(os.path.join(site, name)):
                os.remove(os.path.join(site, name, item))
            os.rmdir(os.path.join(site, name))
    info = os.path.join(site, f"opsflow_crashkit-{version}.dist-info")
    os.makedirs(info)
    with open(os.path.join(info, "METADATA"), "w") as handle:
        handle.write(
            f"Metadata-Version: 2.1\nName: opsflow-crashkit\nVersion: {version}\n"
        )
    with open(os.path.join(info, "top_level.txt"), "w") as handle:
        handle.write("opsflow_crashkit\n")
    with open(os.path.join(info, "entry_points.txt"), "w") as handle:
        handle.write(
            "[opsflow.flows]\n"
            "crash-chain = opsflow_crashkit:chain\n"
            "crash-blocks = opsflow_crashkit:blocks\n"
            "crash-probe = opsflow_crashkit:probe\n"
            "crash-raise = opsflow_crashkit:raising\n"
        )


@dataclass
class Kit:
    cli: Any
    site: str
    journal: str

    def read_journal(self) -> list[tuple[str, str]]:
        if not os.path.exists(self.journal):
            return []
        with open(self.journal) as handle:
            return [tuple(line.split()) for line in handle if line.strip()]  # type: ignore[misc]

    def probes(self) -> list[tuple[str, str, int]]:
        """The ``crash-probe`` journal: ``(event, step, pid)`` in order."""
        return [(e, name, int(pid)) for e, name, pid in self.read_journal()]


def make_kit(cli: Any, tmp_path, name: str = "journal") -> Kit:
    site = install_plugin(str(tmp_path / "plugin"))
    cli.env["PYTHONPATH"] = os.pathsep.join(
        [site, *filter(None, [cli.env.get("PYTHONPATH")])]
    )
    return Kit(cli, site, str(tmp_path / name))


def overlaps(probes: list[tuple[str, str, int]]) -> list[str]:
    """Where two runs of one step were alive at the same time, from the
    ``crash-probe`` journal.

    ``S`` (or ``U``, a revert) opens a new run of its step; ``H`` adds a
    helper process to it. A line written by a process that is not part of
    the step's latest run means an earlier run was still going after a new
    one started. A killed run writes nothing more, so it never counts.
    """
    current: dict[str, set[int]] = {}
    found = []
    for event, step, pid in probes:
        if event in ("S", "U"):
            current[step] = {pid}
        elif event == "H":
            current.setdefault(step, set()).add(pid)
        elif pid not in current.get(step, {pid}):
            found.append(f"{event} {step} by pid {pid} after a newer run started")
    return found


def wait_for_line(kit: Kit, event: str, step: str, timeout: float = 20.0) -> int:
    """Wait until the probe journal has ``event`` for ``step``; its pid."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for seen, name, pid in kit.probes():
            if (seen, name) == (event, step):
                return pid
        time.sleep(0.01)
    raise AssertionError(f"{event} {step} never journaled: {kit.read_journal()}")


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
