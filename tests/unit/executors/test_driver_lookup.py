"""Executor drivers looked up by name: built in, installed, or unknown."""

from __future__ import annotations

import pytest

from opsflow import exceptions, executors
from opsflow.executors.synchronous import SynchronousDriver


def test_a_built_in_name_gives_its_driver() -> None:
    assert isinstance(executors.load("synchronous"), SynchronousDriver)


def test_an_unknown_name_is_a_configuration_error_listing_the_drivers() -> None:
    with pytest.raises(exceptions.ConfigurationError) as raised:
        executors.load("no-such-driver")
    message = str(raised.value)
    assert "unknown executor 'no-such-driver'" in message
    assert "synchronous" in message and "thread" in message
