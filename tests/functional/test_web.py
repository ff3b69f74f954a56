"""opsflow-web's API, pages and security, against a real process.

Runs are made by the installed ``opsflow-run``; an ``opsflow-web`` process
serves the same store; an httpx client reads it as a script would.
"""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from webkit import run_id_of, start_web, web_command

SECRET = "Web-S3cret-9f27c1"


def _json(cli, *args: str):
    proc = cli.run(*args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture
def two_runs(cli):
    """A FAILURE run (a revert failed) and a SUCCESS run; their ids."""
    failed = cli.run("fixture-revert-fails")
    assert failed.returncode == 2, failed.stderr
    ok = cli.run("fixture-ok")
    assert ok.returncode == 0, ok.stderr
    return run_id_of(failed), run_id_of(ok)


def test_the_api_serves_history_and_show_as_opsflow_run_prints_them(cli, two_runs):
    failed, ok = two_runs
    with start_web(cli) as web:
        runs = web.get("/api/v1/runs")
        shown = web.get(f"/api/v1/runs/{failed}")
        assert runs.status_code == 200
        assert runs.headers["x-total-count"] == "2"
        assert runs.json() == _json(cli, "--history")
        assert [row["run_id"] for row in runs.json()] == [ok, failed]
        document = shown.json()
        assert document.pop("running_by") is None  # the one key --show has not
        assert document == _json(cli, "--show", failed)
        assert shown.json()["not_reverted"] == ["stubborn"]
        assert shown.json()["revert_command"] == f"opsflow-run --revert {failed}"


def test_the_runs_api_takes_the_history_filters_and_pages(cli, two_runs):
    failed, ok = two_runs
    with start_web(cli) as web:
        by_state = web.get("/api/v1/runs", params={"state": "failure"}).json()
        by_flow = web.get("/api/v1/runs", params={"flow": "fixture-ok"}).json()
        recent = web.get("/api/v1/runs", params={"since": "1h"}).json()
        future = web.get("/api/v1/runs", params={"since": "2999-01-01"}).json()
        second = web.get("/api/v1/runs", params={"limit": "1", "offset": "1"})
        bad_state = web.get("/api/v1/runs", params={"state": "DONE"})
        bad_since = web.get("/api/v1/runs", params={"since": "yesterday"})
        bad_limit = web.get("/api/v1/runs", params={"limit": "-1"})
    assert [row["run_id"] for row in by_state] == [failed]
    assert [row["run_id"] for row in by_flow] == [ok]
    assert len(recent) == 2 and future == []
    assert [row["run_id"] for row in second.json()] == [failed]
    assert second.headers["x-total-count"] == "2"
    assert bad_state.status_code == 400 and "not a run state" in bad_state.text
    assert bad_since.status_code == 400 and "give a date or time" in bad_since.text
    assert bad_limit.status_code == 400


def test_an_unknown_run_is_a_404_on_the_api_and_the_page(cli, two_runs):
    with start_web(cli) as web:
        api = web.get("/api/v1/runs/no-such-run")
        page = web.get("/runs/no-such-run")
    assert api.status_code == 404
    assert api.json() == {"error": "no run no-such-run in the persistence store"}
    assert page.status_code == 404 and "no run no-such-run" in page.text


def test_a_store_with_no_runs_yet_is_served_empty(cli):
    with start_web(cli) as web:
        assert web.get("/api/v1/runs").json() == []
        assert "No runs recorded" in web.get("/runs").text
        assert web.get("/api/v1/runs/nope").status_code == 404


def test_flows_and_their_plans_are_those_of_list_and_dry_run(cli):
    plan = _json(cli, "fixture-ok", "--dry-run")
    listed = _json(cli, "--list")["opsflow.flows"]
    with start_web(cli) as web:
        flows = web.get("/api/v1/flows").json()
        served_plan = web.get("/api/v1/flows/fixture-ok/plan").json()
        needs = web.get("/api/v1/flows/fixture-factory-needs/plan")
        unknown = web.get("/api/v1/flows/no-such-flow/plan")
        page = web.get("/flows").text
    by_name = {flow["name"]: flow for flow in flows["flows"]}
    assert sorted(by_name) == sorted(p["name"] for p in listed["plugins"])
    assert flows["broken"] == listed["broken"]
    described = _json(cli, "demo", "--describe")
    assert by_name["demo"]["inputs"] == described["inputs"]
    assert by_name["demo"]["steps"] == described["steps"]
    assert by_name["demo"]["inputs"][0]["name"] == "steps"
    assert served_plan.pop("requires") == []
    assert served_plan == plan
    assert needs.status_code == 400 and "region" in needs.json()["error"]
    assert unknown.status_code == 404
    assert 'id="flow-fixture-ok"' in page and 'id="broken-fixture-broken"' in page


def test_every_response_carries_the_csp_and_pages_load_nothing_from_elsewhere(
    cli, two_runs
):
    failed, _ok = two_runs
    with start_web(cli) as web:
        responses = [
            web.get(path)
            for path in (
                "/runs",
                f"/runs/{failed}",
                f"/runs/{failed}/picture.svg",
                "/flows",
                "/api/v1/runs",
                "/static/opsflow-web.js",
                "/static/opsflow-web.css",
                "/runs/nope",
            )
        ]
    for response in responses:
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
    for response in responses:
        if "html" in response.headers["content-type"]:
            # every src/href is a path of opsflow-web itself
            for link in re.findall(r'(?:src|href|action)="([^"]*)"', response.text):
                assert link.startswith(("/", "#")), link
    assert "svg" in responses[2].headers["content-type"]
    assert "<svg" in responses[2].text


def test_the_view_is_read_only(cli, two_runs):
    failed, _ok = two_runs
    with start_web(cli) as web:
        for path in ("/api/v1/runs", f"/api/v1/runs/{failed}", f"/runs/{failed}"):
            assert web.client.post(path).status_code == 405
            assert web.client.delete(path).status_code == 405
        assert web.get(f"/api/v1/runs/{failed}").json()["state"] == "FAILURE"


def test_a_secret_given_to_a_run_appears_in_no_response(cli):
    # Given a run whose result, failure and failed revert all held a secret
    proc = cli.run("fixture-secret-leaks", "--secret", f"password={SECRET}")
    assert proc.returncode == 2, proc.stderr
    run_id = run_id_of(proc)
    with start_web(cli) as web:
        shown = [
            web.get(path)
            for path in (
                "/runs",
                f"/runs/{run_id}",
                f"/runs/{run_id}/picture.svg",
                "/flows",
                "/api/v1/runs",
                f"/api/v1/runs/{run_id}",
                "/api/v1/flows",
                "/api/v1/flows/fixture-secret-leaks/plan",
            )
        ]
    # Then every page and document shows it masked, never the value
    assert all(response.status_code == 200 for response in shown)
    by_phase = {f["phase"]: f for f in shown[5].json()["failures"]}
    assert "login refused for password ***" in by_phase["execute"]["exception"]
    assert "cannot log out with password ***" in by_phase["revert"]["exception"]
    assert "login refused for password ***" in shown[1].text
    for response in shown:
        assert SECRET not in response.text
        assert SECRET not in str(response.headers)


# -- who may read ---------------------------------------------------------------
def test_a_non_loopback_address_without_a_token_refuses_to_start(cli):
    proc = subprocess.run(
        web_command(cli, "--host", "0.0.0.0", "--port", "0"),
        capture_output=True,
        text=True,
        env=cli.env,
        timeout=60,
    )
    assert proc.returncode == 78
    errors = [line for line in proc.stderr.splitlines() if "opsflow-web" in line]
    assert errors == [
        "opsflow-web: error: [web] host 0.0.0.0 is not a loopback address: set "
        "[web] auth_token_file to require a token, or listen on 127.0.0.1"
    ]


def test_a_taken_port_is_one_line_and_exit_69(cli):
    with start_web(cli) as web:
        port = web.url.rsplit(":", 1)[1]
        proc = subprocess.run(
            web_command(cli, "--port", port),
            capture_output=True,
            text=True,
            env=cli.env,
            timeout=60,
        )
    assert proc.returncode == 69
    assert f"opsflow-web: error: cannot listen on 127.0.0.1:{port}" in proc.stderr


def _with_token(cli, tmp_path, token: str) -> None:
    token_file = tmp_path / "web.token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    with open(cli.config, "a", encoding="utf-8") as conf:
        conf.write(f"\n[web]\nauth_token_file = {token_file}\n")


def test_with_a_token_a_request_without_it_or_with_a_wrong_one_gets_401(
    cli, tmp_path, two_runs
):
    _with_token(cli, tmp_path, "right-token-123")
    with start_web(cli) as web:
        missing = web.get("/api/v1/runs")
        wrong = web.get("/api/v1/runs", headers={"Authorization": "Bearer nope"})
        page = web.get("/runs", headers={"Authorization": "Bearer nope"})
        cookie = web.get("/runs", headers={"Cookie": "opsflow_web_session=forged"})
        right = web.get(
            "/api/v1/runs", headers={"Authorization": "Bearer right-token-123"}
        )
    assert missing.status_code == 401 and wrong.status_code == 401
    assert wrong.json() == {"error": "a valid token is required"}
    assert page.status_code == 401 and 'href="/login"' in page.text
    assert cookie.status_code == 401
    assert right.status_code == 200 and len(right.json()) == 2


def test_the_login_form_sets_a_cookie_that_opens_the_pages(cli, tmp_path, two_runs):
    _with_token(cli, tmp_path, "right-token-123")
    with start_web(cli) as web:
        refused = web.client.post("/login", data={"token": "wrong"})
        assert refused.status_code == 401
        assert "not valid" in refused.text
        assert not web.client.cookies
        signed_in = web.client.post("/login", data={"token": "right-token-123"})
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert "right-token-123" not in cookie
        assert web.get("/runs").status_code == 200
        assert len(web.get("/api/v1/runs").json()) == 2


def test_a_non_loopback_address_with_a_token_starts(cli, tmp_path):
    _with_token(cli, tmp_path, "right-token-123")
    headers = {"Authorization": "Bearer right-token-123"}
    with start_web(cli, "--host", "0.0.0.0", headers=headers) as web:
        assert web.get("/api/v1/runs").status_code == 200


def test_an_unreadable_token_file_is_a_configuration_error(cli, tmp_path):
    with open(cli.config, "a", encoding="utf-8") as conf:
        conf.write(f"\n[web]\nauth_token_file = {tmp_path / 'missing.token'}\n")
    proc = subprocess.run(
        web_command(cli), capture_output=True, text=True, env=cli.env, timeout=60
    )
    assert proc.returncode == 78
    assert "[web] auth_token_file" in proc.stderr
    assert "No such file or directory" in proc.stderr


def test_the_runs_page_filters_pages_and_badges(cli, two_runs):
    failed, ok = two_runs
    with start_web(cli) as web:
        failures = web.get("/runs", params={"state": "FAILURE"}).text
        first = web.get("/runs", params={"limit": "1"}).text
        second = web.get("/runs", params={"limit": "1", "offset": "1"}).text
        by_flow = web.get("/runs", params={"flow": "fixture-ok"}).text
        bad = web.get("/runs", params={"since": "soon"})
    assert f'data-run-id="{failed}"' in failures
    assert f'data-run-id="{ok}"' not in failures
    assert "needs a person" in failures
    assert f'data-run-id="{ok}"' in first and f'data-run-id="{failed}"' not in first
    assert 'rel="next" href="/runs?offset=1&amp;limit=1"' in first
    assert f'data-run-id="{failed}"' in second and 'rel="prev"' in second
    assert f'data-run-id="{ok}"' in by_flow and "needs a person" not in by_flow
    assert bad.status_code == 400 and "--since soon" in bad.text


def test_a_run_whose_owner_was_killed_is_badged_interrupted(cli):
    import signal
    import time

    proc = cli.popen("fixture-slow", "--store", "steps=2", "--store", "delay=20")
    with start_web(cli) as web:
        deadline = time.monotonic() + 30
        while [r["state"] for r in web.get("/api/v1/runs").json()] != ["RUNNING"]:
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        row = web.get("/api/v1/runs").json()[0]
        page = web.get("/runs").text
        run_page = web.get(f"/runs/{row['run_id']}").text
    assert row == _json(cli, "--history")[0]
    assert row["interrupted"]["resume_command"] == (
        f"opsflow-run --resume {row['run_id']}"
    )
    assert "badge-interrupted" in page
    assert f"interrupted: owner {row['interrupted']['owner']} gone" in page
    assert f"opsflow-run --resume {row['run_id']}" in run_page
    assert 'data-live="1"' not in run_page  # nobody runs it: nothing to follow
