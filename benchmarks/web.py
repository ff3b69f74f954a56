"""opsflow-web on a store of 10,000 runs: server time of the runs page and API.

Builds a SQLite run store of ``--runs`` runs straight through the
persistence API (one logbook per run, as ``opsflow-run`` stores them: a
mix of flows and final states, a quarter FAILURE with a failed revert),
then starts the installed ``opsflow-web`` on it, as a subprocess, and asks:

* ``/runs`` (the HTML page, first page of 50, with badges),
* ``/api/v1/runs`` (the default page of 50),
* ``/api/v1/runs?state=FAILURE`` (a filter over every run),
* ``/api/v1/runs?limit=0`` (every run in one document).

The figure is the server time opsflow-web reports in its ``Server-Timing``
header (from the request's arrival to its response's start), beside the
client's wall time. *Cold* is the first request of a fresh process (one
per endpoint, ``--cold`` processes each); *warm* is ``--repeat`` requests
after it: median and p95. The server's CPU time per warm request comes
from ``/proc/PID/stat``. TaskFlow has no web view: there is no side by
side here. The machine's load average is printed beside the figures.

    python benchmarks/web.py [--runs 10000] [--repeat 50] [--cold 3]

Prints a Markdown table (the one in docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any

import httpx

TARGET_MS = 100.0
ENDPOINTS = (
    ("runs page", "/runs"),
    ("/api/v1/runs", "/api/v1/runs"),
    ("/api/v1/runs?state=FAILURE", "/api/v1/runs?state=FAILURE"),
    ("/api/v1/runs?limit=0 (all)", "/api/v1/runs?limit=0"),
)
FLOWS = ("deploy", "provision-tenant", "rotate-certs", "backup")
STATES = ("SUCCESS", "SUCCESS", "REVERTED", "FAILURE")


def build_store(url: str, runs: int) -> float:
    """Write ``runs`` finished runs to ``url``; the seconds it took."""
    from opsflow.persistence import backends, models
    from opsflow.runs.record import RUN_META_KEY

    backend = backends.fetch({"connection": url})
    connection = backend.get_connection()
    connection.upgrade()
    started = time.perf_counter()
    for index in range(runs):
        state = STATES[index % len(STATES)]
        flow_name = FLOWS[index % len(FLOWS)]
        book = models.LogBook(f"run {index}")
        flow_detail = models.FlowDetail(flow_name, str(uuid.uuid4()))
        flow_detail.state = state
        flow_detail.meta[RUN_META_KEY] = {"flow": flow_name, "secrets": []}
        for step, step_state in enumerate(_step_states(state)):
            atom = models.TaskDetail(f"step_{step}", str(uuid.uuid4()))
            atom.state = step_state
            flow_detail.add(atom)
        book.add(flow_detail)
        connection.save_logbook(book)
    backend.close()
    return time.perf_counter() - started


def _step_states(state: str) -> tuple[str, ...]:
    if state == "FAILURE":
        return ("REVERT_FAILURE", "REVERTED", "FAILURE")
    if state == "REVERTED":
        return ("REVERTED", "REVERTED", "FAILURE")
    return ("SUCCESS", "SUCCESS", "SUCCESS")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _opsflow_web() -> str:
    beside = os.path.join(os.path.dirname(sys.executable), "opsflow-web")
    return beside if os.path.exists(beside) else (shutil.which("opsflow-web") or "")


class Server:
    """A fresh opsflow-web process on the store, answering."""

    def __init__(self, config: str) -> None:
        self.port = _free_port()
        began = time.perf_counter()
        self.proc = subprocess.Popen(
            [_opsflow_web(), "--config-file", config, "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{self.port}")
        deadline = time.monotonic() + 120
        while True:
            try:
                self.client.get("/static/opsflow-web.css")
                self.started_in = time.perf_counter() - began
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise SystemExit("opsflow-web did not start") from None
                time.sleep(0.05)

    def ask(self, path: str) -> tuple[float, float]:
        """``(server ms, client wall ms)`` of one GET."""
        began = time.perf_counter()
        response = self.client.get(path)
        wall = (time.perf_counter() - began) * 1000
        response.raise_for_status()
        timing = response.headers["server-timing"]
        return float(timing.split("dur=")[1]), wall

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(config: str, path: str, repeat: int, cold: int) -> dict[str, Any]:
    colds, cold_walls, startups = [], [], []
    warm: list[float] = []
    walls: list[float] = []
    cpu = 0.0
    for attempt in range(cold):
        server = Server(config)
        startups.append(server.started_in)
        try:
            first, first_wall = server.ask(path)
            colds.append(first)
            cold_walls.append(first_wall)
            if attempt == 0:
                before = server.cpu_seconds()
                for _ in range(repeat):
                    took, wall = server.ask(path)
                    warm.append(took)
                    walls.append(wall)
                cpu = (server.cpu_seconds() - before) / repeat * 1000
        finally:
            server.stop()
    return {
        "startup": statistics.median(startups),
        "cold": statistics.median(colds),
        "cold_max": max(colds),
        "cold_wall": statistics.median(cold_walls),
        "median": statistics.median(warm),
        "p95": _p95(warm),
        "wall": statistics.median(walls),
        "cpu": cpu,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--cold", type=int, default=3)
    args = parser.parse_args(argv)
    if not _opsflow_web():
        raise SystemExit("opsflow-web is not installed (pip install 'opsflow[web]')")
    with tempfile.TemporaryDirectory(prefix="opsflow-web-bench-") as tmp:
        store = os.path.join(tmp, "opsflow.sqlite")
        config = os.path.join(tmp, "opsflow.conf")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write(f"[DEFAULT]\nstate_path = {tmp}\nflow_dirs =\n")
            handle.write(f"[persistence]\nconnection = sqlite:///{store}\n")
        built = build_store(f"sqlite:///{store}", args.runs)
        load_before = _load()
        results = [
            (label, measure(config, path, args.repeat, args.cold))
            for label, path in ENDPOINTS
        ]
        load_after = _load()
    print(
        f"opsflow-web, SQLite store of {args.runs:,} runs (built in {built:.1f}s "
        f"through the persistence API); Python {platform_python()}, "
        f"{os.cpu_count()} CPUs; load average {' '.join(load_before)} before, "
        f"{' '.join(load_after)} after"
    )
    startup = statistics.median(r["startup"] for _label, r in results)
    print(
        f"opsflow-web starts answering {startup:.2f}s after it is started "
        "(median; it reads the store's runs and compiles its templates first)"
    )
    print()
    print(
        "| request | cold (first request, fresh process) | warm median | warm p95 "
        "| warm client wall | server CPU / warm request | target |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, r in results:
        verdict = "met" if r["p95"] < TARGET_MS and r["cold"] < TARGET_MS else "MISSED"
        print(
            f"| {label} | {r['cold']:.1f} ms (max {r['cold_max']:.1f}; "
            f"client {r['cold_wall']:.1f}) | {r['median']:.1f} ms | "
            f"{r['p95']:.1f} ms | {r['wall']:.1f} ms | {r['cpu']:.1f} ms | "
            f"< {TARGET_MS:.0f} ms: {verdict} |"
        )
    return 0


def _load() -> list[str]:
    with open("/proc/loadavg", encoding="ascii") as handle:
        return handle.read().split()[:3]


def platform_python() -> str:
    import platform

    return platform.python_version()


if __name__ == "__main__":
    sys.exit(main())
