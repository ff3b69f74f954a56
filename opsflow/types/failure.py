"""``Failure``: an exception captured as a value.

Task errors travel through the engine, across process boundaries and into
persistence as ``Failure`` objects; ``engine.run()`` turns them back into
exceptions at the very end. A ``Failure`` keeps the exception's type names
(its whole MRO), message, arguments and traceback text, so it can be matched
and reported even where the exception class cannot be imported.
"""

from __future__ import annotations

import copy as copy_module
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

from opsflow import exceptions

__all__ = ["Failure"]

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


#: A failure's last type name must be one of these (every exception's root).
BASE_EXCEPTIONS = ("BaseException", "Exception")
#: The version of the :meth:`Failure.to_dict` format.
DICT_VERSION = 1


def _qualified_name(cls: type) -> str:
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def _type_names(cls: type) -> tuple[str, ...]:
    """The class and its bases up to ``Exception`` (``BaseException`` if not one)."""
    root = Exception if issubclass(cls, Exception) else BaseException
    names = []
    for base in cls.__mro__:
        names.append(_qualified_name(base))
        if base is root:
            break
    return tuple(names)


def _is_picklable(value: Any) -> bool:
    try:
        pickle.dumps(value)
    except Exception:
        return False
    return True


def _copy_exc_info(exc_info: ExcInfo | None) -> ExcInfo | None:
    """``exc_info`` with a shallow copy of the exception (same type and traceback)."""
    if exc_info is None:
        return None
    exc_type, exc_value, exc_tb = exc_info
    return (exc_type, copy_module.copy(exc_value), exc_tb)


def _are_equal_exc_info_tuples(first: ExcInfo | None, second: ExcInfo | None) -> bool:
    """Whether two ``exc_info`` hold the same exception (a copy counts as the same)."""
    if first == second:
        return True
    if first is None or second is None:
        return False
    return (
        first[0] is second[0]
        and type(first[1]) is type(second[1])
        and str(first[1]) == str(second[1])
        and repr(first[1]) == repr(second[1])
    )


def _chained(exc: BaseException) -> BaseException | None:
    """The exception ``exc`` was raised from, or while handling."""
    if exc.__cause__ is not None or exc.__suppress_context__:
        return exc.__cause__
    return exc.__context__


def _causes_of(exc: BaseException) -> tuple[Failure, ...]:
    """Failures of ``exc``'s chain, nearest first, each holding the rest as causes."""
    chain: list[BaseException] = []
    seen = {id(exc)}
    cause = _chained(exc)
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        chain.append(cause)
        cause = _chained(cause)
    rest: tuple[Failure, ...] = ()
    for each in reversed(chain):
        rest = (Failure((type(each), each, each.__traceback__), causes=rest), *rest)
    return rest


class Failure:
    """An exception captured with its traceback, as a comparable value.

    Build one inside an ``except`` block with ``Failure()`` or from an
    exception object with :meth:`from_exception`. ``Failure()`` refuses to
    capture what is not an ``Exception`` (``SystemExit``,
    ``KeyboardInterrupt``): catching those by accident would swallow an
    exit or a Ctrl-C; :meth:`from_exception` takes them on purpose.

    Two failures are equal when they describe the same exception and both
    hold it (or neither does); :meth:`matches` compares only what they
    describe, so a failure read back from storage matches the original.
    """

    def __init__(
        self,
        exc_info: ExcInfo | None = None,
        *,
        exception_str: str | None = None,
        traceback_str: str | None = None,
        exc_type_names: Iterable[str] | None = None,
        exc_args: Iterable[Any] | None = None,
        causes: Iterable[Failure] | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise TypeError(
                "Failure.__init__ got unexpected keyword argument(s): "
                + ", ".join(unknown)
            )
        described = exception_str is not None or exc_type_names is not None
        if not described:
            if exc_info is None:
                current = sys.exc_info()
                if current[0] is None:
                    raise TypeError("Failure() outside an except block needs exc_info")
                if not issubclass(current[0], Exception):
                    raise TypeError(
                        f"Failure() does not capture {current[0].__name__}, which "
                        "is not an Exception; use Failure.from_exception() for it"
                    )
                exc_info = current
            elif len(exc_info) != 3:
                raise ValueError("Provided 'exc_info' must contain three elements")
            exc_type, exc_value, exc_tb = exc_info
            self._exc_info: ExcInfo | None = (exc_type, exc_value, exc_tb)
            self._exc_type_names = _type_names(exc_type)
            self._exception_str = str(exc_value)
            self._exc_args = tuple(getattr(exc_value, "args", ()))
            self._traceback_str = "".join(traceback.format_tb(exc_tb)) if exc_tb else ""
            self._causes: tuple[Failure, ...] = (
                tuple(causes) if causes is not None else _causes_of(exc_value)
            )
        else:
            self._exc_info = exc_info
            self._exc_type_names = tuple(exc_type_names or ())
            self._exception_str = exception_str or ""
            self._exc_args = tuple(exc_args or ())
            self._traceback_str = traceback_str or ""
            self._causes = tuple(causes or ())

    @classmethod
    def from_exception(cls, exception: BaseException) -> Failure:
        """A ``Failure`` for an exception object (raised or not, of any kind)."""
        return cls((type(exception), exception, exception.__traceback__))

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
        """Failures of the exceptions this one was raised from, nearest first.

        Follows ``__cause__`` (and ``__context__`` unless suppressed); each
        cause has the rest of the chain as its own causes.
        """
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

    def _describes_same(self, other: Failure) -> bool:
        return (
            self._exc_type_names == other._exc_type_names
            and self._exc_args == other._exc_args
            and self._exception_str == other._exception_str
            and self._traceback_str == other._traceback_str
            and len(self.causes) == len(other.causes)
            and all(
                a._describes_same(b)
                for a, b in zip(self.causes, other.causes, strict=True)
            )
        )

    def matches(self, other: object) -> bool:
        """Whether ``other`` describes the same failure (exception object aside)."""
        if self is other:
            return True
        if not isinstance(other, Failure):
            return False
        if self._exc_info is None or other._exc_info is None:
            return self._describes_same(other)
        return self == other

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Failure):
            return NotImplemented
        return self._describes_same(other) and _are_equal_exc_info_tuples(
            self._exc_info, other._exc_info
        )

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
        return {
            "exc_type_names": list(self._exc_type_names),
            "exception_str": self._exception_str,
            "traceback_str": self._traceback_str,
            "exc_args": self._exc_args if include_args else (),
            "causes": [cause.to_dict(include_args) for cause in self.causes],
            "version": DICT_VERSION,
        }

    @classmethod
    def validate(cls, data: Any) -> None:
        """Raise ``InvalidFormat`` unless ``data`` is what :meth:`to_dict` makes."""

        def invalid(why: str) -> exceptions.InvalidFormat:
            return exceptions.InvalidFormat(
                f"Failure data not of the expected format: {why}"
            )

        pending = [data]
        while pending:
            item = pending.pop()
            if not isinstance(item, dict):
                raise invalid(f"a dict is expected, not {type(item).__name__}")
            for key in ("exception_str", "traceback_str"):
                if not isinstance(item.get(key), str):
                    raise invalid(f"{key!r} must be given, as a string")
            names = item.get("exc_type_names")
            if (
                not isinstance(names, list | tuple)
                or not names
                or not all(isinstance(name, str) for name in names)
            ):
                raise invalid("'exc_type_names' must be a non-empty list of strings")
            if names[-1] not in BASE_EXCEPTIONS:
                raise invalid(
                    f"'exc_type_names' must end with one of {BASE_EXCEPTIONS}, "
                    f"not {names[-1]!r}"
                )
            version = item.get("version", DICT_VERSION)
            if not isinstance(version, int) or isinstance(version, bool) or version < 0:
                raise invalid(f"'version' must be a whole number >= 0, not {version!r}")
            if not isinstance(item.get("exc_args", ()), list | tuple):
                raise invalid("'exc_args' must be a list")
            causes = item.get("causes", [])
            if not isinstance(causes, list | tuple):
                raise invalid("'causes' must be a list")
            pending.extend(causes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Failure:
        """Rebuild a ``Failure`` from :meth:`to_dict` output.

        ``ValueError`` for another (or no) format version.
        """
        version = data.get("version")
        if version != DICT_VERSION:
            raise ValueError(f"Invalid dict version of failure object: {version!r}")
        return cls(
            exception_str=data.get("exception_str", ""),
            traceback_str=data.get("traceback_str", ""),
            exc_type_names=tuple(data.get("exc_type_names", ())),
            exc_args=tuple(data.get("exc_args", ())),
            causes=[cls.from_dict(c) for c in data.get("causes", ())],
        )

    def copy(self) -> Failure:
        """A copy with a shallow copy of the exception object (if any)."""
        clone = copy_module.copy(self)
        clone._exc_info = _copy_exc_info(self._exc_info)
        return clone

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
        if self._exc_type_names:
            text = f"Failure: {self._exc_type_names[0]}: {self._exception_str}"
        else:
            text = f"Failure: {self._exception_str}"
        if traceback:
            trace = self._traceback_str.rstrip()
            if trace:
                text += (
                    f"{os.linesep}Traceback (most recent call last):{os.linesep}{trace}"
                )
            else:
                text += f"{os.linesep}Traceback not available."
        return text

    @property
    def exc_type_name(self) -> str:
        """The qualified name of the exception's own class."""
        return self._exc_type_names[0] if self._exc_type_names else "Exception"

    def __str__(self) -> str:
        return self.pformat()

    def __repr__(self) -> str:
        return f"<Failure {self.exc_type_name}: {self._exception_str!r}>"
