"""``Failure`` values behave the same on opsflow and on TaskFlow 6.5."""

from __future__ import annotations

import pickle

import pytest


class BoomError(ValueError):
    """A module-level error so that pickles can find its class."""


BOOM_NAME = f"{BoomError.__module__}.BoomError"


@pytest.fixture
def Failure(lib):  # noqa: N802 - it is a class
    return lib.failure.Failure


@pytest.fixture
def caught(Failure):  # noqa: N803
    """A failure captured inside ``except`` (with a traceback)."""
    try:
        raise BoomError("boom")
    except BoomError:
        return Failure()


def test_a_captured_failure_describes_its_exception(caught):
    assert isinstance(caught.exception, BoomError)
    assert caught.exception_str == "boom"
    assert "raise BoomError" in caught.traceback_str
    assert str(caught) == f"Failure: {BOOM_NAME}: boom"
    assert list(caught) == [BOOM_NAME, "ValueError", "Exception"]


def test_from_exception_wraps_an_exception_that_was_never_raised(Failure):  # noqa: N803
    fail = Failure.from_exception(BoomError("quiet"))
    assert fail.exception_str == "quiet"
    assert fail.traceback_str == ""
    assert fail.check(BoomError) is BoomError


def test_check_returns_the_first_matching_type_or_name(caught):
    assert caught.check(ValueError) is ValueError
    assert caught.check(KeyError, BoomError) is BoomError
    assert caught.check("KeyError", "ValueError") == "ValueError"
    assert caught.check(KeyError) is None
    assert caught.check("KeyError") is None


def test_matches_compares_type_message_and_traceback(Failure, caught):  # noqa: N803
    assert caught.matches(caught)
    assert caught == caught
    other = Failure.from_exception(BoomError("boom"))
    assert not caught.matches(other)
    assert caught != other


def test_to_dict_and_from_dict_round_trip(Failure, caught):  # noqa: N803
    data = caught.to_dict()
    assert data["exc_type_names"] == [BOOM_NAME, "ValueError", "Exception"]
    assert data["exception_str"] == "boom"
    assert tuple(data["exc_args"]) == ("boom",)
    assert data["traceback_str"] == caught.traceback_str

    restored = Failure.from_dict(data)

    # The restored failure has no live exception but keeps its identity
    assert restored.exception is None
    assert restored.exception_str == "boom"
    assert restored.matches(caught)
    assert caught.matches(restored)
    assert restored.check("ValueError") == "ValueError"
    assert restored.check(ValueError) is ValueError
    # Re-raising what has no live exception raises a WrappedFailure instead
    with pytest.raises(Exception) as info:
        restored.reraise()
    assert type(info.value).__name__ == "WrappedFailure"


def test_a_pickled_failure_keeps_its_exception_and_traceback(caught):
    clone = pickle.loads(pickle.dumps(caught))
    assert isinstance(clone.exception, BoomError)
    assert clone.exception_str == "boom"
    assert clone.traceback_str == caught.traceback_str
    assert clone.check(ValueError) is ValueError
    assert list(clone) == list(caught)


def test_opsflow_pickled_failure_still_matches_the_original(opsflow_lib):
    """opsflow deviation: TaskFlow 6.5's unpickled clone no longer matches()
    the original (a list where a tuple was); opsflow's must."""
    try:
        raise BoomError("boom")
    except BoomError:
        original = opsflow_lib.failure.Failure()
    clone = pickle.loads(pickle.dumps(original))
    assert clone.matches(original)
    assert original.matches(clone)
    assert clone == original


def test_reraise_raises_the_original_exception_object(caught):
    with pytest.raises(BoomError) as info:
        caught.reraise()
    assert info.value is caught.exception


def test_reraise_if_any_raises_one_failure_as_is_and_several_wrapped(
    lib,
    Failure,  # noqa: N803
    caught,
):
    assert Failure.reraise_if_any([]) is None
    with pytest.raises(BoomError):
        Failure.reraise_if_any([caught])
    second = Failure.from_exception(KeyError("k"))
    with pytest.raises(lib.exceptions.WrappedFailure) as info:
        Failure.reraise_if_any([caught, second])
    wrapped = info.value
    assert len(wrapped) == 2
    assert [f.exception_str for f in wrapped] == ["boom", "'k'"]
    assert wrapped.check("KeyError") == "KeyError"
    assert wrapped.check("IndexError") is None


def test_the_exception_tree_matches(lib):
    exc = lib.exceptions
    base = exc.TaskFlowException
    for name in (
        "WrappedFailure",
        "MissingDependencies",
        "DependencyFailure",
        "AmbiguousDependency",
        "CompilationFailure",
        "Duplicate",
        "NotFound",
        "InvalidState",
        "StorageFailure",
        "ExecutionFailure",
    ):
        assert issubclass(getattr(exc, name), Exception), name
    for name in ("MissingDependencies", "AmbiguousDependency"):
        assert issubclass(getattr(exc, name), exc.DependencyFailure), name
    for name in ("DependencyFailure", "Duplicate", "NotFound", "InvalidState"):
        assert issubclass(getattr(exc, name), base), name


def test_causes_survive_to_dict_and_pickling(Failure):  # noqa: N803
    # Given a failure raised from another exception
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise BoomError("outer") from inner
    except BoomError:
        fail = Failure()

    # Then its cause is kept as a failure of its own, in every form
    assert [c.exception_str for c in fail.causes] == ["'inner'"]
    (cause,) = fail.to_dict()["causes"]
    assert cause["exc_type_names"] == ["KeyError", "LookupError", "Exception"]
    restored = Failure.from_dict(fail.to_dict())
    assert [c.exception_str for c in restored.causes] == ["'inner'"]
    clone = pickle.loads(pickle.dumps(fail))
    assert [c.exception_str for c in clone.causes] == ["'inner'"]
    assert fail.pformat(traceback=False) == f"Failure: {BOOM_NAME}: outer"


def test_validate_accepts_to_dict_output_and_rejects_anything_else(
    lib,
    Failure,  # noqa: N803
    caught,
):
    Failure.validate(caught.to_dict())
    with pytest.raises(lib.exceptions.InvalidFormat):
        Failure.validate({"bad": 1})
