"""opsflow.runs.queries.parse_since: ``--since`` ages and dates."""

from __future__ import annotations

import datetime

import pytest

from opsflow import exceptions
from opsflow.runs.queries import parse_since


def test_an_age_is_that_long_before_now():
    now = datetime.datetime.now(datetime.UTC)
    moment = parse_since("12h")
    assert abs((now - moment) - datetime.timedelta(hours=12)) < datetime.timedelta(
        seconds=5
    )


def test_a_date_without_a_zone_is_utc():
    assert parse_since("2026-01-31") == datetime.datetime(
        2026, 1, 31, tzinfo=datetime.UTC
    )


@pytest.mark.parametrize("text", ["99999999999d", "9" * 5000 + "w"])
def test_an_age_beyond_the_calendar_is_a_usage_error(text):
    with pytest.raises(exceptions.UsageError, match="reaches back before year 1"):
        parse_since(text)


@pytest.mark.parametrize("text", ["\u00b2d", "\u0663h", "12", "soon", "-3d"])
def test_what_is_neither_is_a_usage_error(text):
    with pytest.raises(exceptions.UsageError, match="give a date or time"):
        parse_since(text)
