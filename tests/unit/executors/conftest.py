"""Fixtures for the executor driver tests: every test runs on every driver.

The engine is the parallel one, told which driver to use by name, exactly as
``[engine] executor`` or ``engines.load(executor=...)`` choose it.
"""

from __future__ import annotations

import pytest
from drivertasks import Journal, loader_for, skip_without_eventlet

DRIVERS = ("synchronous", "thread", "process", "greenthread")
#: Drivers whose tasks run at the same time as each other.
CONCURRENT_DRIVERS = ("thread", "process", "greenthread")


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
