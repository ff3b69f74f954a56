"""A real ``opsflow-web`` process for the functional tests.

:func:`start_web` runs the installed console script on a free loopback port
with the test's ``opsflow.conf`` (the same store its ``opsflow-run`` runs
write) and waits until it answers; the :class:`Web` it gives has an httpx
client on it and stops the process afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest


def find_opsflow_web() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "opsflow-web")
    if os.path.exists(beside):
        return beside
    found = shutil.which("opsflow-web")
    if not found:
        pytest.fail("opsflow-web is not installed: run these tests with tox")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Web:
    """A running opsflow-web and an HTTP client on it."""

    proc: subprocess.Popen[str]
    url: str
    client: httpx.Client

    def get(self, path: str, **kwargs) -> httpx.Response:
        return self.client.get(path, **kwargs)


def web_command(cli, *args: str) -> list[str]:
    return [find_opsflow_web(), "--config-file", cli.config, *args]


@contextlib.contextmanager
def start_web(cli, *args: str, headers=None, timeout: float = 20) -> Iterator[Web]:
    """``opsflow-web`` on a free port of 127.0.0.1, answering, then stopped."""
    port = free_port()
    proc = subprocess.Popen(
        web_command(cli, "--port", str(port), *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.env,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=url, headers=headers, timeout=10)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                error = proc.stderr.read()
                pytest.fail(f"opsflow-web exited {proc.returncode}: {error}")
            try:
                client.get("/static/opsflow-web.css")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("opsflow-web did not answer in time")
                time.sleep(0.1)
        yield Web(proc, url, client)
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def run_id_of(proc) -> str:
    """The run id an ``opsflow-run`` summary names (``run RUN_ID``)."""
    return next(
        line.split()[1] for line in proc.stdout.splitlines() if line.startswith("run ")
    )
