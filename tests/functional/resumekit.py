"""A journaling flow plugin for the resume and crash tests, and helpers.

The plugin distribution ``opsflow-crashkit`` is written into a temporary
directory (package plus ``.dist-info`` with its entry points) that the
subprocesses get on ``PYTHONPATH``, so ``opsflow-run`` finds it through
stevedore exactly as an installed plugin, and a test can change its
version between a run and its resume.

Each task appends ``<event> <task>`` lines to a journal file with
``fsync``: ``X`` when its execute finished its work, ``R`` when its revert
did. A SIGKILL can never lose a line that was written.
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


def make_kit(cli: Any, tmp_path, name: str = "journal") -> Kit:
    site = install_plugin(str(tmp_path / "plugin"))
    cli.env["PYTHONPATH"] = os.pathsep.join(
        [site, *filter(None, [cli.env.get("PYTHONPATH")])]
    )
    return Kit(cli, site, str(tmp_path / name))
