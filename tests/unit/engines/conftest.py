"""Fixtures shared by the engine tests: every test runs on both engines."""

from __future__ import annotations

import pytest
from enginekit import Recorder

from opsflow import engines

ENGINE_KINDS = ("serial", "parallel")


@pytest.fixture(params=ENGINE_KINDS)
def engine_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def load(engine_kind: str):
    """``engines.load`` bound to the engine under test."""

    def _load(flow, **kwargs):
        if engine_kind == "parallel":
            kwargs.setdefault("max_workers", 4)
        return engines.load(flow, engine=engine_kind, **kwargs)

    return _load


@pytest.fixture
def rec() -> Recorder:
    return Recorder()
