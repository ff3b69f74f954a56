"""opsflow-web in a real browser: the distribution's headless Chromium.

Selenium drives ``chromium`` through ``chromedriver`` (Debian packages
``chromium`` and ``chromium-driver``). The tests open the runs page, follow
a run while ``opsflow-run`` executes it and watch its steps and picture
change without a reload, and open a FAILURE run with its revert command.
Without Chromium they skip, unless ``OPSFLOW_REQUIRE_SERVICES=1``.
Screenshots go to ``$OPSFLOW_WEB_SCREENSHOTS`` when it is set.
"""

from __future__ import annotations

import os
import shutil
import time

import httpx
import pytest
from storekit import unavailable
from webkit import run_id_of, start_web

selenium = pytest.importorskip("selenium")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM and CHROMEDRIVER):
        unavailable(
            "Chromium is not installed (apt-get install chromium chromium-driver)"
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _screenshot(driver, name: str, tmp_path) -> str:
    directory = os.environ.get("OPSFLOW_WEB_SCREENSHOTS") or str(tmp_path)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, name)
    driver.find_element(By.TAG_NAME, "body")  # the page is there
    assert driver.save_screenshot(path)
    return path


def _wait(driver, condition, timeout: float = 20):
    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(
        lambda d: condition(d)
    )


def _step_states(driver) -> dict[str, str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#steps tbody tr")
    return {
        row.get_attribute("data-step"): row.find_element(
            By.CSS_SELECTOR, '[data-field="state"]'
        ).text
        for row in rows
    }


def _picture_loaded(driver) -> bool:
    return driver.execute_script(
        "const img = document.getElementById('picture');"
        "return img.complete && img.naturalWidth > 0;"
    )


def _wait_for_run(web, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = web.get("/api/v1/runs").json()
        if rows and rows[0]["state"] == "RUNNING":
            return rows[0]
        time.sleep(0.1)
    pytest.fail("the run never showed up RUNNING")


def test_a_running_run_updates_in_place_until_it_ends(cli, browser, tmp_path):
    # Given opsflow-web, and a run of three slow steps under way
    with start_web(cli) as web:
        proc = cli.popen("fixture-slow", "--store", "steps=3", "--store", "delay=1.5")
        try:
            row = _wait_for_run(web)
            run_id = row["run_id"]
            # When the runs page is opened, the run is there, under way
            browser.get(f"{web.url}/runs")
            link = browser.find_element(By.LINK_TEXT, run_id)
            listed = browser.find_element(
                By.CSS_SELECTOR, f'tr[data-run-id="{run_id}"]'
            )
            assert "RUNNING" in listed.text
            # And its page, opened from there, follows it without a reload
            link.click()
            _wait(browser, lambda d: d.find_elements(By.ID, "steps"))
            browser.execute_script("window.openedOnce = true;")
            assert browser.find_element(By.ID, "live-note").is_displayed()
            first = _step_states(browser)
            assert list(first) == ["slow_1", "slow_2", "slow_3"]
            _wait(browser, lambda d: _step_states(d)["slow_1"] == "SUCCESS")
            _wait(browser, lambda d: _step_states(d)["slow_2"] == "RUNNING")
            assert _step_states(browser)["slow_3"] == "PENDING"
            _wait(browser, _picture_loaded)
            src = browser.find_element(By.ID, "picture").get_attribute("src")
            assert "picture.svg?v=" in src  # reloaded in place as states changed
            _screenshot(browser, "web-running-run.png", tmp_path)
            # Then the page shows the end of the run, still the same page
            _wait(
                browser,
                lambda d: d.find_element(By.ID, "run-state").text == "SUCCESS",
            )
            assert set(_step_states(browser).values()) == {"SUCCESS"}
            assert browser.execute_script("return window.openedOnce === true;")
            assert not browser.find_element(By.ID, "live-note").is_displayed()
            _wait(browser, _picture_loaded)
        finally:
            proc.wait(timeout=60)
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == 0
        # The picture the page shows is the run's SVG, coloured by state
        svg = web.get(f"/runs/{run_id}/picture.svg")
        assert svg.headers["content-type"].startswith("image/svg+xml")
        assert "slow_3" in svg.text and "SUCCESS" in svg.text


def test_a_failure_run_shows_what_is_left_and_its_revert_command(
    cli, browser, tmp_path
):
    # Given a run whose revert failed
    proc = cli.run("fixture-revert-fails")
    assert proc.returncode == 2, proc.stderr
    run_id = run_id_of(proc)
    with start_web(cli) as web:
        # When the runs page is opened, the run is badged for a person
        browser.get(f"{web.url}/runs")
        row = browser.find_element(By.CSS_SELECTOR, f'tr[data-run-id="{run_id}"]')
        assert "FAILURE" in row.text and "needs a person" in row.text
        # And its page shows the steps left, the exact command, the traceback
        row.find_element(By.LINK_TEXT, run_id).click()
        _wait(browser, lambda d: d.find_elements(By.ID, "needs-person"))
        callout = browser.find_element(By.ID, "needs-person")
        assert callout.is_displayed()
        assert browser.find_element(By.ID, "not-reverted").text == "stubborn"
        command = browser.find_element(By.ID, "revert-command").text
        assert command == f"opsflow-run --revert {run_id}"
        assert _step_states(browser) == {
            "stubborn": "REVERT_FAILURE",
            "boom": "REVERTED",
        }
        failures = browser.find_element(By.ID, "failures").text
        assert "step stubborn could not be reverted" in failures
        assert "Traceback (most recent call last)" in failures
        assert not browser.find_element(By.ID, "live-note").is_displayed()
        _wait(browser, _picture_loaded)
        _screenshot(browser, "web-failure-run.png", tmp_path)
        # Nothing was asked of any server but opsflow-web
        origins = browser.execute_script(
            "return performance.getEntriesByType('resource')"
            ".map(e => new URL(e.name).origin);"
        )
        assert set(origins) <= {web.url}
        assert httpx.get(f"{web.url}/api/v1/runs/{run_id}").json()["state"] == "FAILURE"


def test_a_run_killed_while_watched_shows_it_is_interrupted_in_place(cli, browser):
    import signal
    import socket

    # Given a run under way, watched on its page
    with start_web(cli) as web:
        proc = cli.popen("fixture-slow", "--store", "steps=2", "--store", "delay=30")
        try:
            run_id = _wait_for_run(web)["run_id"]
            browser.get(f"{web.url}/runs/{run_id}")
            browser.execute_script("window.openedOnce = true;")
            owner = f"{socket.gethostname()} pid {proc.pid}"
            owner_note = browser.find_element(By.ID, "running-by")
            assert owner_note.is_displayed() and owner in owner_note.text
            assert not browser.find_element(By.ID, "interrupted").is_displayed()
            # When its process is killed -9
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()
        # Then the page says so, with the commands, without a reload
        _wait(browser, lambda d: d.find_element(By.ID, "interrupted").is_displayed())
        assert browser.execute_script("return window.openedOnce === true;")
        assert not browser.find_element(By.ID, "running-by").is_displayed()
        assert not browser.find_element(By.ID, "live-note").is_displayed()
        text = browser.find_element(By.ID, "interrupted").text
        assert f"its owner {owner} is gone" in text
        assert f"opsflow-run --resume {run_id}" in text
        assert f"opsflow-run --revert {run_id}" in text
