"""opsflow-web against what a tester threw at it, on a real process.

Oversized sign-in forms, other host names, a store replaced or lost while
serving, an unreachable store at start-up, query values Python's parsers
choke on, flows added while serving, token files others can read, runs
interrupted or suspended, and pages past the last run.
"""

from __future__ import annotations

import json
import pathlib
import signal
import socket
import subprocess
import threading
import time

import pytest
import storekit
from webkit import run_id_of, start_web, web_command


def _run(cli, *args: str) -> str:
    proc = cli.run(*args)
    assert proc.returncode == 0, proc.stderr
    return run_id_of(proc)


def _with_token(cli, tmp_path, token: str, mode: int = 0o600) -> None:
    token_file = tmp_path / "web.token"
    token_file.write_text(token + "\n")
    token_file.chmod(mode)
    with open(cli.config, "a", encoding="utf-8") as conf:
        conf.write(f"\n[web]\nauth_token_file = {token_file}\n")


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


# -- signing in -------------------------------------------------------------------
def test_an_oversized_login_form_is_refused_before_it_is_read(cli, tmp_path):
    _with_token(cli, tmp_path, "right-token-123")
    with start_web(cli) as web:
        before = _rss_kib(web.proc.pid)
        declared = web.client.post(
            "/login",
            content=b"token=" + b"x" * (1 << 20),
            headers={"content-type": "application/x-www-form-urlencoded"},
        )

        def chunks():  # no Content-Length: 64 MiB as it arrives
            for _ in range(1024):
                yield b"x" * 65536

        streamed = web.client.post("/login", content=chunks())
        after = _rss_kib(web.proc.pid)
        fine = web.client.post("/login", data={"token": "right-token-123"})
    assert declared.status_code == 413 and "too large" in declared.text
    assert streamed.status_code == 413
    assert after - before < 32 * 1024, (before, after)
    assert fine.status_code == 303


def test_the_login_cookie_expires_and_logout_clears_it(cli, tmp_path):
    _with_token(cli, tmp_path, "right-token-123")
    with start_web(cli) as web:
        signed_in = web.client.post("/login", data={"token": "right-token-123"})
        cookie = signed_in.headers["set-cookie"]
        assert "Max-Age=43200" in cookie
        value = web.client.cookies["opsflow_web_session"]
        expires = int(value.split(".")[0])
        assert 43000 < expires - time.time() <= 43200
        assert 'action="/logout"' in web.get("/runs").text
        out = web.client.post("/logout")
        assert out.status_code == 303 and out.headers["location"] == "/login"
        assert 'opsflow_web_session=""' in out.headers["set-cookie"]
        assert web.get("/api/v1/runs").status_code == 401
        # the old cookie, kept by a client, still works until it expires;
        # one whose expiry was pushed later does not
        forged = f"{expires + 10**6}.{value.split('.')[1]}"
        replay = {"Cookie": f"opsflow_web_session={value}"}
        stretched = {"Cookie": f"opsflow_web_session={forged}"}
        assert web.get("/api/v1/runs", headers=replay).status_code == 200
        assert web.get("/api/v1/runs", headers=stretched).status_code == 401


# -- who may ask ------------------------------------------------------------------
def test_without_a_token_only_loopback_host_names_are_answered(cli):
    _run(cli, "fixture-ok")
    with start_web(cli) as web:
        port = web.url.rsplit(":", 1)[1]
        rebound = web.get("/api/v1/runs", headers={"Host": f"attacker.example:{port}"})
        page = web.get("/runs", headers={"Host": "attacker.example"})
        answered = {
            host: web.get("/api/v1/runs", headers={"Host": host}).status_code
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", "127.1.2.3", "[::1]")
        }
    assert rebound.status_code == 421 and page.status_code == 421
    assert "not served without a token" in rebound.json()["error"]
    assert "fixture-ok" not in rebound.text + page.text
    assert set(answered.values()) == {200}, answered


def test_with_a_token_any_host_name_may_ask(cli, tmp_path):
    _with_token(cli, tmp_path, "right-token-123")
    headers = {"Authorization": "Bearer right-token-123", "Host": "ops.example"}
    with start_web(cli) as web:
        assert web.get("/api/v1/runs", headers=headers).status_code == 200


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_a_token_file_others_can_read_refuses_to_start(cli, tmp_path, mode):
    _with_token(cli, tmp_path, "right-token-123", mode)
    proc = subprocess.run(
        web_command(cli, "--port", "0"),
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
    )
    assert proc.returncode == 78
    assert proc.stderr.splitlines() == [
        f"opsflow-web: error: [web] auth_token_file {tmp_path / 'web.token'}: "
        f"mode {mode:04o} gives others access to it: chmod 600 "
        f"{tmp_path / 'web.token'}"
    ]


# -- the store --------------------------------------------------------------------
def test_a_store_replaced_while_serving_is_followed(cli):
    old = _run(cli, "fixture-ok")
    store = pathlib.Path(cli.home).parent / "state" / "opsflow.sqlite"
    assert store.exists()
    with start_web(cli) as web:
        assert web.get(f"/api/v1/runs/{old}").status_code == 200
        for leftover in store.parent.glob("opsflow.sqlite*"):
            leftover.unlink()
        gone = web.get("/api/v1/runs")
        new = _run(cli, "fixture-ok")  # a new store file
        runs = web.get("/api/v1/runs").json()
        page = web.get(f"/runs/{new}")
        old_page = web.get(f"/api/v1/runs/{old}")
    assert gone.status_code == 200 and gone.json() == []
    assert [row["run_id"] for row in runs] == [new]
    assert page.status_code == 200
    assert old_page.status_code == 404


def test_an_unreachable_store_at_start_up_is_one_line_and_exit_69(cli):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with open(cli.config, "a", encoding="utf-8") as conf:
        conf.write(
            f"\n[persistence]\nconnection = postgresql://ops:pw-9f2@127.0.0.1:{port}/x\n"
        )
    proc = subprocess.run(
        web_command(cli, "--port", "0"),
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
    )
    assert proc.returncode == 69, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("opsflow-web: error: persistence store ")
    assert "unavailable" in lines[0] and "serving" not in proc.stderr
    assert "pw-9f2" not in proc.stderr


class _Proxy:
    """A TCP proxy to PostgreSQL that can be cut, as a dead proxy would."""

    def __init__(self, port: int) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = port
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self.open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        # shutdown wakes the accept() under way; close alone would not
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for sock in self.open:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def test_a_store_lost_while_serving_is_a_503_without_driver_text(cli):
    with storekit.postgres_schema() as (_schema, url):
        proxy = _Proxy(5432)
        proxied = url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        with open(cli.config, "a", encoding="utf-8") as conf:
            conf.write(f"\n[persistence]\nconnection = {proxied}\n")
        run_id = _run(cli, "fixture-ok")
        with start_web(cli) as web:
            assert web.get("/api/v1/runs").status_code == 200
            proxy.cut()
            api = web.get(f"/api/v1/runs/{run_id}")
            page = web.get(f"/runs/{run_id}")
    assert api.status_code == 503, api.text
    assert api.json() == {
        "error": "the run store cannot be reached now; try again later"
    }
    assert page.status_code == 503
    for text in (api.text, page.text):
        assert "postgresql" not in text.lower() and "Operational" not in text


# -- query values -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("limit", "\u00b2"),
        ("limit", "9" * 5000),
        ("offset", "9" * 5000),
        ("offset", "1" + "0" * 10),
        ("since", "99999999999d"),
        ("since", "9" * 5000 + "d"),
        ("since", "\u00b2d"),
    ],
)
def test_query_values_python_chokes_on_are_a_400(cli, name, value):
    with start_web(cli) as web:
        api = web.get("/api/v1/runs", params={name: value})
        page = web.get("/runs", params={name: value})
    assert api.status_code == 400, api.text
    assert page.status_code == 400
    assert api.json()["error"].startswith(("limit ", "offset ", "--since "))


def test_an_age_beyond_the_calendar_is_a_usage_error_for_history(cli):
    _run(cli, "fixture-ok")
    proc = cli.run("--history", "--since", "99999999999d")
    assert proc.returncode == 64
    assert proc.stderr.strip() == (
        "opsflow-run: error: --since 99999999999d: an age that reaches back "
        "before year 1"
    )


def test_paging_past_the_end_says_so_and_leads_back(cli):
    _run(cli, "fixture-ok")
    _run(cli, "fixture-ok")
    with start_web(cli) as web:
        page = web.get("/runs", params={"offset": "100", "limit": "1"}).text
        back = web.get("/runs", params={"offset": "1", "limit": "1"}).text
    assert "2 runs, none from 101 on" in page
    assert "–100 shown" not in page
    assert 'rel="first" href="/runs?limit=1"' in page
    assert 'rel="last" href="/runs?offset=1&amp;limit=1"' in page
    assert "data-run-id" in back


# -- flows ------------------------------------------------------------------------
YAML_FLOW = """\
name: {name}
description: Make one directory.
inputs:
  workdir: {{default: /nonexistent/web-flow, description: Where it goes.}}
  banner: {{default: "<b>ops & co</b>"}}
steps:
  - name: make
    task: linux.directory
    requires: workdir
    with: {{path: '{{workdir}}'}}
"""


def test_yaml_flows_show_their_inputs_and_one_added_later_is_served(cli, tmp_path):
    flow_dir = tmp_path / "flows.d"
    flow_dir.mkdir()
    (flow_dir / "first.yaml").write_text(YAML_FLOW.format(name="web-first"))
    with open(cli.config, "a", encoding="utf-8") as conf:
        conf.write(f"flow_dirs = {flow_dir}\n")
    described = json.loads(
        cli.run("web-first", "--describe", "--format", "json").stdout
    )
    with start_web(cli) as web:
        flows = {f["name"]: f for f in web.get("/api/v1/flows").json()["flows"]}
        missing = web.get("/api/v1/flows/web-later/plan")
        (flow_dir / "later.yaml").write_text(YAML_FLOW.format(name="web-later"))
        later = web.get("/api/v1/flows/web-later/plan")
        page = web.get("/flows").text
    assert flows["web-first"]["inputs"] == described["inputs"]
    assert [i["name"] for i in described["inputs"]] == ["workdir", "banner"]
    assert flows["web-first"]["steps"] == described["steps"]
    assert missing.status_code == 404
    assert later.status_code == 200 and later.json()["order"] == ["make"]
    assert 'id="flow-web-later"' in page
    # the default is JSON text escaped once, as the live script shows values
    assert "<code>&#34;&lt;b&gt;ops &amp; co&lt;/b&gt;&#34;</code>" in page
    assert "\\u003c" not in page


@pytest.mark.parametrize("name", ["fixture-broken", "fixture-cyclic"])
def test_the_plan_of_a_flow_that_cannot_be_built_is_a_422_with_its_error(cli, name):
    with start_web(cli) as web:
        plan = web.get(f"/api/v1/flows/{name}/plan")
    assert plan.status_code == 422
    error = plan.json()["error"]
    assert name in error and "\n" not in error


def test_results_are_shown_as_json_text_escaped_once(cli):
    run_id = _run(cli, "demo", "--store", "steps=1")
    with start_web(cli) as web:
        document = web.get(f"/api/v1/runs/{run_id}").json()
        page = web.get(f"/runs/{run_id}").text
    shown = {n: a["result"] for n, a in document["atoms"].items() if a["result"]}
    assert shown, document
    for result in shown.values():
        text = json.dumps(result, separators=(",", ":"))
        escaped = text.replace("&", "&amp;").replace('"', "&#34;")
        escaped = escaped.replace("<", "&lt;").replace(">", "&gt;")
        assert escaped in page
    assert "\\u00" not in page


# -- runs that stop -----------------------------------------------------------------
def _wait_for(web, run_filter, timeout: float = 30):
    deadline = time.monotonic() + timeout
    while True:
        rows = web.get("/api/v1/runs").json()
        if rows and run_filter(rows[0]):
            return rows[0]
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)


def test_the_run_document_says_who_runs_it_and_then_that_it_is_interrupted(cli):
    proc = cli.popen("fixture-slow", "--store", "steps=2", "--store", "delay=20")
    with start_web(cli) as web:
        row = _wait_for(web, lambda r: r["state"] == "RUNNING")
        running = web.get(f"/api/v1/runs/{row['run_id']}").json()
        live_page = web.get(f"/runs/{row['run_id']}").text
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        killed = web.get(f"/api/v1/runs/{row['run_id']}").json()
        page = web.get(f"/runs/{row['run_id']}").text
    owner = f"{socket.gethostname()} pid {proc.pid}"
    assert running["running_by"] == owner and running["interrupted"] is None
    assert f'<span id="owner">{owner}</span>' in live_page
    assert 'data-live="1"' in live_page
    assert killed["running_by"] is None
    assert killed["interrupted"]["owner"] == owner
    assert '<div class="callout" id="interrupted">' in page
    assert 'id="running-by" class="owner" hidden' in page
    assert f"opsflow-run --resume {row['run_id']}" in page


def test_a_suspended_run_is_not_live_and_shows_what_to_do(cli):
    proc = cli.popen("fixture-slow", "--store", "steps=2", "--store", "delay=2")
    with start_web(cli) as web:
        row = _wait_for(web, lambda r: r["state"] == "RUNNING")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        assert proc.returncode == 3
        row = _wait_for(web, lambda r: r["state"] == "SUSPENDED")
        page = web.get(f"/runs/{row['run_id']}").text
    assert 'data-live="1"' not in page
    assert 'id="live-note" class="live" hidden' in page
    assert '<div class="callout" id="suspended">' in page
    assert f"opsflow-run --resume {row['run_id']}" in page
    assert f"opsflow-run --revert {row['run_id']}" in page
