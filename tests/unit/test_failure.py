"""Opsflow.types.failure.Failure."""

from __future__ import annotations

import json
import pickle
import sys
import traceback

import pytest

from opsflow import exceptions
from opsflow.types import failure


class DiskFull(OSError):
    pass


def _raise_disk_full():
    raise DiskFull("disk /var is full")


def _captured(fn=_raise_disk_full) -> failure.Failure:
    try:
        fn()
    except Exception:
        return failure.Failure()
    raise AssertionError("fn did not raise")


def test_failure_captures_the_exception_being_handled():
    f = _captured()

    assert isinstance(f.exception, DiskFull)
    assert f.exception_str == "disk /var is full"
    assert "_raise_disk_full" in f.traceback_str


def test_from_exception_wraps_a_raised_exception():
    try:
        _raise_disk_full()
    except DiskFull as exc:
        f = failure.Failure.from_exception(exc)

    assert f.exception_str == "disk /var is full"
    assert f.check(DiskFull) is DiskFull
    assert "_raise_disk_full" in f.traceback_str


def test_exc_type_names_list_the_class_and_its_bases_by_qualified_name():
    f = _captured()

    names = list(f.exc_type_names)
    assert names[0] == f"{__name__}.DiskFull"
    assert "OSError" in names
    assert "Exception" in names
    assert names.index("OSError") < names.index("Exception")
    # iterating a Failure gives the same names (TaskFlow's way)
    assert list(f) == names


def test_check_returns_the_first_matching_class_or_none():
    f = _captured()

    assert f.check(ValueError) is None
    assert f.check(ValueError, OSError) is OSError
    assert f.check(DiskFull, OSError) is DiskFull
    assert f.check("OSError") == "OSError"


def test_reraise_raises_the_original_exception_with_its_traceback():
    f = _captured()

    with pytest.raises(DiskFull, match="disk /var is full") as caught:
        f.reraise()

    names = [fr.name for fr in traceback.extract_tb(caught.value.__traceback__)]
    assert "_raise_disk_full" in names


def test_reraise_if_any_does_nothing_without_failures():
    failure.Failure.reraise_if_any([])


def test_reraise_if_any_reraises_a_single_failure_as_itself():
    with pytest.raises(DiskFull):
        failure.Failure.reraise_if_any([_captured()])


def test_reraise_if_any_wraps_several_failures():
    first, second = _captured(), _captured(lambda: int("x"))

    with pytest.raises(exceptions.WrappedFailure) as caught:
        failure.Failure.reraise_if_any([first, second])

    wrapped = caught.value
    assert len(wrapped) == 2
    assert list(wrapped) == [first, second]
    assert wrapped.check(ValueError) is ValueError
    assert wrapped.check(KeyError) is None


def test_matches_compares_type_message_and_traceback():
    f = _captured()
    assert f.matches(f.copy())
    assert f == f.copy()

    other = _captured(lambda: int("x"))
    assert not f.matches(other)
    assert f != other


def test_to_dict_and_from_dict_round_trip():
    f = _captured()

    data = f.to_dict()
    clone = failure.Failure.from_dict(data)

    assert data["exception_str"] == "disk /var is full"
    assert data["exc_type_names"][0] == f"{__name__}.DiskFull"
    assert data["traceback_str"] == f.traceback_str
    assert clone.exception_str == f.exception_str
    assert clone.traceback_str == f.traceback_str
    assert list(clone.exc_type_names) == list(f.exc_type_names)
    assert clone.check(OSError) is OSError
    assert clone.matches(f)


def test_a_failure_restored_from_a_dict_has_no_live_exception_to_reraise():
    clone = failure.Failure.from_dict(_captured().to_dict())

    assert clone.exception is None
    with pytest.raises(exceptions.WrappedFailure) as caught:
        clone.reraise()
    assert caught.value.check(DiskFull) is DiskFull


def test_a_failure_survives_pickling_and_still_matches():
    f = _captured()

    clone = pickle.loads(pickle.dumps(f))

    assert clone.exception_str == f.exception_str
    assert clone.traceback_str == f.traceback_str
    assert clone.check(DiskFull) is DiskFull
    assert clone.matches(f)
    assert f.matches(clone)


def test_a_failure_of_an_unpicklable_exception_still_pickles():
    class Local(Exception):
        pass

    def boom():
        raise Local("local class", lambda: None)

    f = _captured(boom)

    clone = pickle.loads(pickle.dumps(f))

    assert clone.exception_str == f.exception_str
    assert list(clone.exc_type_names) == list(f.exc_type_names)
    assert clone.check(Exception) is Exception


def test_failure_without_an_exception_in_flight_is_an_error():
    assert sys.exc_info() == (None, None, None)
    with pytest.raises((TypeError, ValueError)):
        failure.Failure()


def test_str_names_the_exception_type_and_message():
    text = str(_captured())

    assert "DiskFull" in text
    assert "disk /var is full" in text


def _raise_with_cause():
    try:
        raise KeyError("inner")
    except KeyError as exc:
        raise RuntimeError("outer") from exc


def test_the_cause_chain_is_kept_and_survives_a_dict_round_trip():
    f = _captured(_raise_with_cause)

    assert f.exception_str == "outer"
    assert [c.check(KeyError) for c in f.causes] == [KeyError]
    clone = failure.Failure.from_dict(f.to_dict())
    assert [c.exception_str for c in clone.causes] == [
        c.exception_str for c in f.causes
    ]


def test_a_failure_survives_json_via_to_dict():
    f = _captured()

    clone = failure.Failure.from_dict(json.loads(json.dumps(f.to_dict())))

    assert clone.matches(f)
    assert clone.check(DiskFull) is DiskFull
