"""``Failure``: an exception captured as a value.

Task errors travel through the engine, across process boundaries and into
persistence as ``Failure`` objects; ``engine.run()`` turns them back into
exceptions at the very end. A ``Failure`` keeps the exception's type names
(its whole MRO), message, arguments and traceback text, so it can be matched
and reported even where the exception class cannot be imported.
"""

from __future__ import annotations

import copy as copy_module
import pickle
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from opsflow import exceptions

__all__ = ["Failure"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def _type_names(cls: type) -> tuple[str, ...]:
    names = []
    for base in cls.__mro__:
        if base is BaseException or base is object:
            break
        names.append(_qualified_name(base))
    return tuple(names)


def _is_picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


class Failure:
    """An exception captured with its traceback, as a comparable value.

    Build one inside an ``except`` block with ``Failure()`` or from an
    exception object with :meth:`from_exception`.
    """

    def __init__(
        self,
        exc_info: ExcInfo | None = None,
        *,
        exception_str: str = "",
        traceback_str: str = "",
        exc_type_names: Iterable[str] = (),
        exc_args: tuple[Any, ...] = (),
        causes: Iterable[Failure] = (),
    ) -> None:
        if exc_info is None and not exc_type_names:
            current = sys.exc_info()
            if current[0] is None:
                raise TypeError("Failure() outside an except block needs exc_info")
            exc_info = current  # type: ignore[assignment]
        if exc_info is not None:
            exc_type, exc_value, exc_tb = exc_info
            self._exc_info: ExcInfo | None = (exc_type, exc_value, exc_tb)
            self._exc_type_names = _type_names(exc_type)
            self._exception_str = str(exc_value)
            self._exc_args = tuple(getattr(exc_value, "args", ()))
            self._traceback_str = "".join(traceback.format_tb(exc_tb)) if exc_tb else ""
            self._causes = tuple(self._causes_of(exc_value))
        else:
            self._exc_info = None
            self._exc_type_names = tuple(exc_type_names)
            self._exception_str = exception_str
            self._exc_args = tuple(exc_args)
            self._traceback_str = traceback_str
            self._causes = tuple(causes)

    @staticmethod
    def _causes_of(exc: BaseException) -> Iterator[Failure]:
        seen = {id(exc)}
        cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        while cause is not None and id(cause) not in seen:
            seen.add(id(cause))
            yield Failure.from_exception(cause, with_causes=False)
            cause = cause.__cause__ or (
                None if cause.__suppress_context__ else cause.__context__
            )

    @classmethod
    def from_exception(
        cls, exception: BaseException, *, with_causes: bool = True
    ) -> Failure:
        """A ``Failure`` for an exception object (raised or not)."""
        failure = cls((type(exception), exception, exception.__traceback__))
        if not with_causes:
            failure._causes = ()
        return failure

    # -- what it holds -----------------------------------------------------
    @property
    def exception(self) -> BaseException | None:
        """The exception object, when this process has it (None after ``from_dict``)."""
        return self._exc_info[1] if self._exc_info else None

    @property
    def exc_info(self) -> ExcInfo | None:
        """``(type, value, traceback)`` when the exception object is here."""
        return self._exc_info

    @property
    def exception_str(self) -> str:
        """``str()`` of the exception."""
        return self._exception_str

    @property
    def exception_args(self) -> tuple[Any, ...]:
        """The exception's ``args``."""
        return self._exc_args

    @property
    def traceback_str(self) -> str:
        """The traceback, formatted, as it was where the exception was raised."""
        return self._traceback_str

    @property
    def exc_type_names(self) -> tuple[str, ...]:
        """Qualified names of the exception's class and bases, most specific first."""
        return self._exc_type_names

    @property
    def causes(self) -> tuple[Failure, ...]:
        """Failures for the chain of ``__cause__``/``__context__`` exceptions."""
        return self._causes

    def __iter__(self) -> Iterator[str]:
        return iter(self._exc_type_names)

    # -- matching ----------------------------------------------------------
    def check(self, *exc_classes: type | str) -> type | str | None:
        """The first of ``exc_classes`` (classes or qualified names) this failure is."""
        for exc_class in exc_classes:
            name = (
                exc_class if isinstance(exc_class, str) else _qualified_name(exc_class)
            )
            if name in self._exc_type_names:
                return exc_class
        return None

    def matches(self, other: object) -> bool:
        """Whether ``other`` describes the same failure (exception object aside)."""
        if self is other:
            return True
        if not isinstance(other, Failure):
            return False
        return (
            self._exc_type_names == other._exc_type_names
            and self._exception_str == other._exception_str
            and self._traceback_str == other._traceback_str
            and len(self._causes) == len(other._causes)
            and all(
                a.matches(b) for a, b in zip(self._causes, other._causes, strict=True)
            )
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Failure):
            return NotImplemented
        return self.matches(other) and self._exc_args == other._exc_args

    __hash__ = None  # type: ignore[assignment]

    # -- raising -----------------------------------------------------------
    def reraise(self) -> None:
        """Raise the original exception with its traceback, or a ``WrappedFailure``."""
        if self._exc_info is not None:
            raise self._exc_info[1].with_traceback(self._exc_info[2])
        raise exceptions.WrappedFailure([self])

    @staticmethod
    def reraise_if_any(failures: Iterable[Failure]) -> None:
        """Raise one failure as itself, several as a ``WrappedFailure``."""
        failures = list(failures)
        if len(failures) == 1:
            failures[0].reraise()
        elif failures:
            raise exceptions.WrappedFailure(failures)

    # -- conversion --------------------------------------------------------
    def to_dict(self, include_args: bool = True) -> dict[str, Any]:
        """A JSON-friendly description (no exception object)."""
        data: dict[str, Any] = {
            "exc_type_names": list(self._exc_type_names),
            "exception_str": self._exception_str,
            "traceback_str": self._traceback_str,
            "causes": [cause.to_dict(include_args) for cause in self._causes],
            "version": 1,
        }
        if include_args:
            data["exc_args"] = list(self._exc_args)
        return data

    @classmethod
    def validate(cls, data: Any) -> None:
        """Raise ``InvalidFormat`` unless ``data`` is what :meth:`to_dict` makes."""
        if not isinstance(data, dict):
            raise exceptions.InvalidFormat(
                f"Failure data must be a dict, not {type(data)}"
            )
        names = data.get("exc_type_names")
        if (
            not names
            or not isinstance(names, list | tuple)
            or not all(isinstance(name, str) for name in names)
        ):
            raise exceptions.InvalidFormat(
                "Failure data needs 'exc_type_names': a non-empty list of strings"
            )
        for key in ("exception_str", "traceback_str"):
            if not isinstance(data.get(key, ""), str):
                raise exceptions.InvalidFormat(f"Failure data {key!r} must be a string")
        causes = data.get("causes", [])
        if not isinstance(causes, list | tuple):
            raise exceptions.InvalidFormat("Failure data 'causes' must be a list")
        for cause in causes:
            cls.validate(cause)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Failure:
        """Rebuild a ``Failure`` from :meth:`to_dict` output."""
        return cls(
            exception_str=data.get("exception_str", ""),
            traceback_str=data.get("traceback_str", ""),
            exc_type_names=tuple(data["exc_type_names"]),
            exc_args=tuple(data.get("exc_args", ())),
            causes=[cls.from_dict(c) for c in data.get("causes", ())],
        )

    def copy(self) -> Failure:
        """A copy sharing the exception object (if any)."""
        return copy_module.copy(self)

    def without_traceback(self) -> Failure:
        """A copy that holds no live traceback frames (safe to keep around)."""
        clone = self.copy()
        if clone._exc_info is not None:
            clone._exc_info = (clone._exc_info[0], clone._exc_info[1], None)
        return clone

    def redacted(
        self, text: Callable[[str], str], value: Callable[[Any], Any]
    ) -> Failure:
        """A copy whose message and traceback went through ``text``, whose
        arguments went through ``value``, and whose causes were redacted alike.

        The copy keeps an exception object only if one with the new
        arguments can be made and reads exactly as the new message (so that
        ``reraise()`` raises the same type); otherwise it holds none, like a
        failure rebuilt with :meth:`from_dict`.
        """
        clone = Failure(
            exception_str=text(self._exception_str),
            traceback_str=text(self._traceback_str),
            exc_type_names=self._exc_type_names,
            exc_args=tuple(value(arg) for arg in self._exc_args),
            causes=[cause.redacted(text, value) for cause in self._causes],
        )
        if self._exc_info is not None:
            exc_type, exc_value, exc_tb = self._exc_info
            try:
                exception = copy_module.copy(exc_value)
                exception.args = clone._exc_args
                readable = str(exception) == clone._exception_str
            except Exception:  # an exception class that cannot be copied
                readable = False
            if readable:
                clone._exc_info = (exc_type, exception, exc_tb)
        return clone

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        exc_info = state.pop("_exc_info")
        # Tracebacks never pickle; the exception and its args travel when they can.
        if exc_info is not None and _is_picklable(exc_info[1]):
            state["_exc_info"] = (exc_info[0], exc_info[1], None)
        else:
            state["_exc_info"] = None
        if not _is_picklable(self._exc_args):
            state["_exc_args"] = tuple(repr(arg) for arg in self._exc_args)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def pformat(self, traceback: bool = False) -> str:
        """A readable description, with the traceback text when asked."""
        text = str(self)
        if traceback and self._traceback_str:
            text += "\nTraceback (most recent call last):\n" + self._traceback_str
        return text

    @property
    def exc_type_name(self) -> str:
        """The qualified name of the exception's own class."""
        return self._exc_type_names[0] if self._exc_type_names else "Exception"

    def __str__(self) -> str:
        return f"Failure: {self.exc_type_name}: {self._exception_str}"

    def __repr__(self) -> str:
        return f"<Failure {self.exc_type_name}: {self._exception_str!r}>"
