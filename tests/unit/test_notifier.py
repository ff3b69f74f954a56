"""Opsflow.types.notifier.Notifier."""

from __future__ import annotations

import pytest

from opsflow.types import notifier


def test_a_callback_gets_the_event_and_its_details():
    n = notifier.Notifier()
    seen = []
    n.register("started", lambda event, details: seen.append((event, details)))

    n.notify("started", {"k": 1})

    assert seen == [("started", {"k": 1})]


def test_any_receives_every_event_type():
    n = notifier.Notifier()
    seen = []
    n.register(notifier.Notifier.ANY, lambda event, details: seen.append(event))

    n.notify("a", {})
    n.notify("b", {})

    assert seen == ["a", "b"]


def test_callbacks_for_other_events_are_not_called():
    n = notifier.Notifier()
    seen = []
    n.register("a", lambda event, details: seen.append(event))

    n.notify("b", {})

    assert seen == []


def test_deregistered_callbacks_are_no_longer_called():
    n = notifier.Notifier()
    seen = []

    def cb(event, details):
        seen.append(event)

    n.register("a", cb)
    assert n.is_registered("a", cb)
    n.deregister("a", cb)
    assert not n.is_registered("a", cb)

    n.notify("a", {})

    assert seen == []


def test_registering_the_same_callback_twice_is_refused():
    n = notifier.Notifier()

    def cb(event, details):
        pass

    n.register("a", cb)
    with pytest.raises(ValueError):
        n.register("a", cb)


def test_a_failing_callback_does_not_stop_the_others(caplog):
    n = notifier.Notifier()
    seen = []

    def broken(event, details):
        raise RuntimeError("listener bug")

    n.register("a", broken)
    n.register("a", lambda event, details: seen.append(event))

    n.notify("a", {})

    assert seen == ["a"]


def test_details_filter_selects_which_notifications_a_callback_gets():
    n = notifier.Notifier()
    seen = []
    n.register(
        "a",
        lambda event, details: seen.append(details["n"]),
        details_filter=lambda details: details["n"] % 2 == 0,
    )

    for i in range(4):
        n.notify("a", {"n": i})

    assert seen == [0, 2]


def test_kwargs_given_at_registration_are_passed_to_the_callback():
    n = notifier.Notifier()
    seen = []
    n.register(
        "a",
        lambda event, details, extra: seen.append(extra),
        kwargs={"extra": "x"},
    )

    n.notify("a", {})

    assert seen == ["x"]


def test_len_counts_registered_callbacks_and_reset_clears_them():
    n = notifier.Notifier()
    n.register("a", lambda event, details: None)
    n.register(notifier.Notifier.ANY, lambda event, details: None)
    assert len(n) == 2

    n.reset()

    assert len(n) == 0


def test_any_cannot_be_notified_directly():
    n = notifier.Notifier()
    assert not n.can_trigger_notification(notifier.Notifier.ANY)
    assert n.can_be_registered(notifier.Notifier.ANY)
