"""Retry controllers: atoms that decide what happens when their subflow fails.

A flow built with ``Flow(name, retry=controller)`` runs ``controller`` first.
When an atom inside fails, the engine asks ``controller.on_failure(history)``
for a :class:`Decision`:

* ``RETRY``: revert the subflow, run the controller again, re-run the subflow;
* ``REVERT``: revert the subflow and let the enclosing controller decide (with
  none, the whole flow reverts: ``defer_reverts=False`` keeps only the
  subflow reverted, as old TaskFlow did);
* ``REVERT_ALL``: revert the whole flow, whatever enclosing controllers say.

``delay`` (seconds) and ``backoff`` (multiplier) space attempts out:
attempt ``n`` waits ``delay * backoff ** (n - 2)`` seconds before it starts,
without blocking other branches of the flow.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from opsflow import atom, exceptions
from opsflow.types.failure import Failure

__all__ = [
    "EXECUTE_REVERT_HISTORY",
    "REVERT_FLOW_FAILURES",
    "AlwaysRevert",
    "AlwaysRevertAll",
    "Decision",
    "ForEach",
    "History",
    "ParameterizedForEach",
    "Retry",
    "Times",
]

#: The argument through which the engine hands a retry its history.
EXECUTE_REVERT_HISTORY = "history"
REVERT_FLOW_FAILURES = atom.REVERT_FLOW_FAILURES


class Decision(enum.StrEnum):
    """What a retry controller wants done after a failure in its subflow."""

    RETRY = "RETRY"
    REVERT = "REVERT"
    REVERT_ALL = "REVERT_ALL"


RETRY = Decision.RETRY
REVERT = Decision.REVERT
REVERT_ALL = Decision.REVERT_ALL


class History:
    """The attempts of a retry controller: ``(outcome, {atom: Failure})`` pairs.

    ``failure`` is the controller's own failure, if its ``execute`` failed.
    """

    def __init__(
        self,
        contents: Iterable[tuple[Any, dict[str, Failure]]] = (),
        failure: Failure | None = None,
    ) -> None:
        self._contents = [(outcome, dict(failures)) for outcome, failures in contents]
        self.failure = failure

    def __len__(self) -> int:
        return len(self._contents)

    def __iter__(self) -> Iterator[tuple[Any, dict[str, Failure]]]:
        return iter(self._contents)

    def __getitem__(self, index: int) -> tuple[Any, dict[str, Failure]]:
        return self._contents[index]

    def fetch(self, index: int = -1) -> Any:
        """The outcome of attempt ``index`` (the last one by default)."""
        return self._contents[index][0]

    def provided_iter(self) -> Iterator[Any]:
        """Every attempt's outcome, oldest first."""
        for outcome, _failures in self._contents:
            yield outcome

    def outcomes_iter(self, index: int | None = None) -> Iterator[tuple[str, Failure]]:
        """``(atom name, Failure)`` of every attempt's failures, or attempt ``index``'s.

        The controller's own failure is not among them: see ``failure``.
        """
        attempts = self._contents if index is None else [self._contents[index]]
        for _outcome, failures in attempts:
            yield from failures.items()

    def caused_by(
        self,
        exception_cls: type | str,
        index: int | None = None,
        include_retry: bool = False,
    ) -> bool:
        """Whether a failure (of attempt ``index``, or any) is ``exception_cls``."""
        if (
            include_retry
            and self.failure is not None
            and self.failure.check(exception_cls)
        ):
            return True
        return any(
            failure.check(exception_cls) for _name, failure in self.outcomes_iter(index)
        )

    def to_list(self) -> list[tuple[Any, dict[str, Failure]]]:
        return [(outcome, dict(failures)) for outcome, failures in self._contents]

    def __repr__(self) -> str:
        return f"History({self._contents!r}, failure={self.failure!r})"


class Retry(atom.Atom):
    """Base of retry controllers; subclasses define ``on_failure`` and ``execute``."""

    def __init__(
        self,
        name: str | None = None,
        provides: atom.Provides = None,
        requires: atom.Requires = None,
        auto_extract: bool = True,
        rebind: atom.Rebind = None,
        revert_requires: atom.Requires = None,
        revert_rebind: atom.Rebind = None,
        delay: float = 0.0,
        backoff: float = 1.0,
    ) -> None:
        if delay < 0 or backoff < 1:
            raise ValueError("delay must be >= 0 and backoff >= 1")
        # Unnamed, it takes its flow's name: Flow("deploy", retry=...) names
        # it "deploy_retry".
        super().__init__(
            name=name,
            provides=provides,
            requires=requires,
            auto_extract=auto_extract,
            rebind=rebind,
            ignore_list=[EXECUTE_REVERT_HISTORY],
            revert_requires=revert_requires,
            revert_rebind=revert_rebind,
        )
        self.delay = float(delay)
        self.backoff = float(backoff)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before attempt number ``attempt`` (1 is the first)."""
        if attempt <= 1 or self.delay <= 0:
            return 0.0
        return self.delay * self.backoff ** (attempt - 2)

    def execute(self, history: History, *args: Any, **kwargs: Any) -> Any:
        """Run before each attempt; the return value is what the retry provides."""
        raise NotImplementedError

    def revert(self, history: History, *args: Any, **kwargs: Any) -> Any:
        """Called when the controller itself is reverted."""

    def on_failure(self, history: History, *args: Any, **kwargs: Any) -> Decision:
        """Decide what to do after a failure in the subflow."""
        raise NotImplementedError


class AlwaysRevert(Retry):
    """Never retries: reverts the subflow and lets enclosing controllers decide."""

    def on_failure(self, *args: Any, **kwargs: Any) -> Decision:
        return REVERT

    def execute(self, *args: Any, **kwargs: Any) -> None:
        return None


class AlwaysRevertAll(Retry):
    """Never retries: reverts the whole flow."""

    def on_failure(self, *args: Any, **kwargs: Any) -> Decision:
        return REVERT_ALL

    def execute(self, *args: Any, **kwargs: Any) -> None:
        return None


class _ExhaustibleRetry(Retry):
    """A controller that retries until its attempts run out, then reverts.

    Its keywords after the first (subclass-specific) one follow TaskFlow's
    order, so positional calls port unchanged.
    """

    def __init__(
        self,
        name: str | None = None,
        provides: atom.Provides = None,
        requires: atom.Requires = None,
        auto_extract: bool = True,
        rebind: atom.Rebind = None,
        revert_all: bool = False,
        delay: float = 0.0,
        backoff: float = 1.0,
    ) -> None:
        super().__init__(
            name, provides, requires, auto_extract, rebind, delay=delay, backoff=backoff
        )
        self._when_exhausted = REVERT_ALL if revert_all else REVERT


class Times(_ExhaustibleRetry):
    """Up to ``attempts`` runs of the subflow in all; provides the attempt number."""

    def __init__(self, attempts: int = 1, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._attempts = attempts

    def on_failure(self, history: History, *args: Any, **kwargs: Any) -> Decision:
        return RETRY if len(history) < self._attempts else self._when_exhausted

    def execute(self, history: History, *args: Any, **kwargs: Any) -> int:
        return len(history) + 1


class _ValuesRetry(_ExhaustibleRetry):
    """Tries the subflow once per value, in order, until one attempt succeeds."""

    @staticmethod
    def _next_value(values: Sequence[Any], history: History) -> Any:
        tried = len(history)
        if tried >= len(values):
            raise exceptions.NotFound(
                "No elements left in collection of iterable retry controller"
            )
        return values[tried]

    def _on_failure(self, values: Sequence[Any], history: History) -> Decision:
        return RETRY if len(history) < len(values) else self._when_exhausted


class ForEach(_ValuesRetry):
    """Runs the subflow with each of ``values`` in turn; provides the current value."""

    def __init__(self, values: Iterable[Any], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._values = list(values)

    def on_failure(self, history: History, *args: Any, **kwargs: Any) -> Decision:
        return self._on_failure(self._values, history)

    def execute(self, history: History, *args: Any, **kwargs: Any) -> Any:
        return self._next_value(self._values, history)


class ParameterizedForEach(_ValuesRetry):
    """Like :class:`ForEach`, with the values taken from the ``values`` input."""

    def on_failure(  # type: ignore[override]  # TaskFlow's signature
        self, values: Sequence[Any], history: History, *args: Any, **kwargs: Any
    ) -> Decision:
        return self._on_failure(list(values), history)

    def execute(  # type: ignore[override]  # TaskFlow's signature
        self, values: Sequence[Any], history: History, *args: Any, **kwargs: Any
    ) -> Any:
        return self._next_value(list(values), history)
