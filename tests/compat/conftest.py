"""Fixtures for the differential tests; the helpers live in ``harness``."""

from __future__ import annotations

import types

import pytest

from .harness import ENGINES, LIBRARIES, Kit, library_or_skip, load_library


@pytest.fixture(params=LIBRARIES)
def lib(request: pytest.FixtureRequest) -> types.SimpleNamespace:
    """The public modules of TaskFlow or opsflow."""
    return library_or_skip(request.param)


@pytest.fixture
def taskflow_lib() -> types.SimpleNamespace:
    return library_or_skip("taskflow")


@pytest.fixture
def opsflow_lib() -> types.SimpleNamespace:
    return load_library("opsflow")


@pytest.fixture(params=ENGINES)
def engine_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def kit(lib: types.SimpleNamespace) -> Kit:
    return Kit(lib)
