"""Run the installed ``opsflow-run`` as an operator would: in a subprocess.

The ``functional`` tox environment installs opsflow, the demo plugin and the
test plugin distributions of ``tests/fixtures``; these tests find the console
script next to the running interpreter. Each test gets its own HOME (so no
user ``opsflow.conf`` is read), config file and state directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest


def find_opsflow_run() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "opsflow-run")
    if os.path.exists(beside):
        return beside
    found = shutil.which("opsflow-run")
    if not found:
        pytest.fail(
            "opsflow-run is not installed: run these tests with tox -e functional"
        )
    return found


@dataclass
class Cli:
    """Runs ``opsflow-run`` with a private home, config and state dir."""

    exe: str
    home: str
    config: str
    state: str
    env: dict[str, str]

    def cmd(self, *args: str, config: bool = True) -> list[str]:
        return [self.exe, *(["--config-file", self.config] if config else []), *args]

    def run(
        self, *args: str, timeout: float = 60, config: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run with the test's config file, or (``config=False``) with none,
        so oslo.config looks in its usual places under the private HOME."""
        return subprocess.run(
            self.cmd(*args, config=config),
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.cmd(*args),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            stdin=subprocess.DEVNULL,
        )


@pytest.fixture
def cli(tmp_path) -> Cli:
    home = tmp_path / "home"
    home.mkdir()
    state = tmp_path / "state"
    config = tmp_path / "opsflow.conf"
    config.write_text(f"[DEFAULT]\nstate_path = {state}\n")
    env = dict(os.environ)
    env.update({"HOME": str(home), "COLUMNS": "200"})
    env.pop("OS_ENGINE__ENGINE", None)
    return Cli(find_opsflow_run(), str(home), str(config), str(state), env)


@pytest.fixture
def marker_dir(tmp_path):
    """A directory fixture tasks write into; empty means nothing ran or all undone."""
    path = tmp_path / "markers"
    path.mkdir()
    return path
