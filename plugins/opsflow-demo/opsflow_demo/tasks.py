"""The demo's tasks: each undoes exactly what it did, so a revert leaves nothing.

Every task takes the optional store key ``fail_at``: when it names the task,
the task fails after doing its work, to show the full revert.
"""

from __future__ import annotations

import os
import tempfile
import time

from opsflow import task


class InjectedFailure(RuntimeError):
    """The failure asked for with ``--store fail_at=<step>``."""


def _fail_if_asked(name: str, fail_at: str | None) -> None:
    if fail_at == name:
        raise InjectedFailure(f"injected failure at {name} (fail_at={fail_at})")


class CreateWorkdir(task.Task):
    """Create the work directory (a new one under state_path unless given)."""

    default_provides = "workdir_path"

    def execute(self, workdir: str | None = None, fail_at: str | None = None) -> str:
        """Make the directory the other steps write into.

        :param workdir: where the files go (created; must not exist yet);
            by default a new opsflow-demo-* directory under opsflow's
            state_path
        :param fail_at: name of a step to fail once it did its work
        """
        # Fails before creating anything: its revert would not know the path.
        _fail_if_asked(self.name, fail_at)
        if workdir:
            os.makedirs(workdir)  # must not exist: we only remove what we made
            path = os.path.abspath(workdir)
        else:
            path = tempfile.mkdtemp(prefix="opsflow-demo-", dir=_runs_dir())
        return path

    def revert(self, *args, result=None, **kwargs) -> None:
        if isinstance(result, str) and os.path.isdir(result):
            os.rmdir(result)  # every other task already removed its file


class WriteFile(task.Task):
    """Write the greeting to hello.txt in the work directory."""

    default_provides = "file_path"

    def execute(
        self,
        workdir_path: str,
        greeting: str = "hello from opsflow",
        fail_at: str | None = None,
    ) -> str:
        """:param greeting: the text of hello.txt"""
        path = os.path.join(workdir_path, "hello.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(greeting + "\n")
        _fail_if_asked(self.name, fail_at)
        return path

    def revert(self, workdir_path: str, *args, **kwargs) -> None:
        _remove(os.path.join(workdir_path, "hello.txt"))


class Step(task.Task):
    """One unit of work: takes ``delay`` seconds, reports progress, writes a file."""

    def execute(
        self, workdir_path: str, delay: float = 0.2, fail_at: str | None = None
    ) -> str:
        """:param delay: seconds each step takes"""
        ticks = 4
        for tick in range(1, ticks + 1):
            time.sleep(float(delay) / ticks)
            self.update_progress(tick / ticks)
        path = os.path.join(workdir_path, f"{self.name}.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f"{self.name} done\n")
        _fail_if_asked(self.name, fail_at)
        return path

    def revert(self, workdir_path: str, *args, **kwargs) -> None:
        _remove(os.path.join(workdir_path, f"{self.name}.txt"))


class WriteReport(task.Task):
    """Write report.txt listing what the run made."""

    default_provides = "report_path"

    def execute(self, workdir_path: str, fail_at: str | None = None) -> str:
        made = sorted(os.listdir(workdir_path))
        path = os.path.join(workdir_path, "report.txt")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("".join(f"{name}\n" for name in made))
        _fail_if_asked(self.name, fail_at)
        return path

    def revert(self, workdir_path: str, *args, **kwargs) -> None:
        _remove(os.path.join(workdir_path, "report.txt"))


def _runs_dir() -> str | None:
    """Where work directories go by default: opsflow's state directory (which
    opsflow-run gives plugins), so that runs leave nothing in the system's
    temporary directory; the temporary directory when used as a library."""
    state = os.environ.get("OPSFLOW_STATE_PATH")
    if not state:
        return None
    runs = os.path.join(state, "demo-runs")
    os.makedirs(runs, exist_ok=True)
    return runs


def _remove(path: str) -> None:
    # A task that failed half-way may not have written its file.
    if os.path.exists(path):
        os.remove(path)
