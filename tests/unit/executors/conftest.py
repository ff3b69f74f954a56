"""Fixtures for the executor driver tests: every test runs on every driver.

The engine is the parallel one, told which driver to use by name, exactly as
``[engine] executor`` or ``engines.load(executor=...)`` choose it.
"""

from __future__ import annotations

import importlib.util

import pytest
from drivertasks import Journal

from opsflow import engines

DRIVERS = ("synchronous", "thread", "process", "greenthread")
#: Drivers whose tasks run at the same time as each other.
CONCURRENT_DRIVERS = ("thread", "process", "greenthread")


def skip_without_eventlet(driver: str) -> None:
    if driver == "greenthread" and importlib.util.find_spec("eventlet") is None:
        pytest.skip(
            "eventlet is not importable: install test-requirements.txt "
            "(or opsflow[eventlet]) to test the greenthread driver"
        )


@pytest.fixture(params=DRIVERS)
def driver(request: pytest.FixtureRequest) -> str:
    skip_without_eventlet(request.param)
    return request.param


@pytest.fixture(params=CONCURRENT_DRIVERS)
def concurrent_driver(request: pytest.FixtureRequest) -> str:
    skip_without_eventlet(request.param)
    return request.param


@pytest.fixture
def journal(tmp_path) -> Journal:
    return Journal(tmp_path / "journal.jsonl")


@pytest.fixture
def load(driver: str):
    """``engines.load`` on the parallel engine with the driver under test."""
    return loader_for(driver)


def loader_for(driver: str):
    def _load(flow, **kwargs):
        kwargs.setdefault("max_workers", 4)
        return engines.load(flow, engine="parallel", executor=driver, **kwargs)

    return _load
