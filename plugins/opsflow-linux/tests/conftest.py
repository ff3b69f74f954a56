"""Test setup shared by this plugin's tests.

pyroute2 forks a short-lived child to enter or create a network namespace.
When eventlet is installed (futurist imports it; opsflow's greenthread
driver is tested with it), eventlet warns on every fork; under pytest's
warnings-as-errors that warning would fail these tests, though nothing here
uses eventlet.
"""

from __future__ import annotations

import os
import sys

import pytest

# hostcheck.py sits beside the tests; make it importable however pytest runs.
sys.path.insert(0, os.path.dirname(__file__))

FORK_WARNING = r"ignore:Using fork\(\) is a bad idea:DeprecationWarning"


def pytest_collection_modifyitems(items):
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.filterwarnings(FORK_WARNING))
