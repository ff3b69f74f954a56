"""Redaction: secret values scrubbed from what tasks return and raise.

A run's secrets (``--secret``, ``secrets:`` in a store file, a YAML input
declared ``secret: true``) reach the tasks unchanged, but nothing a task
hands back may carry them further. A :class:`Redactor` knows the secret
values of one run and returns scrubbed copies of results and ``Failure``
objects (message, arguments, traceback and causes), with each occurrence
replaced by :data:`MASK`. :class:`~opsflow.storage.Storage` applies it to
every outcome it records, before the persistence backend, the listeners,
the logs or a report see it; a worker whose results travel through a store
of their own (the celery driver's Redis) applies it before it replies.

Only values are scrubbed, never the structure around them: dict keys of a
result are scrubbed like any text, but opsflow's own records (states, ids,
timestamps) are never touched, since they are not task values.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from opsflow.types.failure import Failure

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "NO_SECRETS",
    "Redactor",
    "WeakSecret",
    "check_secrets",
]

#: What a secret value is replaced by.
MASK = "***"
#: Shorter secrets would be found inside unrelated text (ids, numbers, words).
MIN_SECRET_LENGTH = 4


class WeakSecret(ValueError):
    """A secret value too short to be told apart from ordinary text."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(
            f"secret {key!r} is shorter than {MIN_SECRET_LENGTH} characters: "
            "it could not be masked without mangling unrelated text"
        )


def _leaves(value: Any) -> Iterator[str]:
    """The texts of a secret value: itself, or each scalar inside it."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, Mapping):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _leaves(item)
    else:
        yield str(value)


def check_secrets(secrets: Mapping[str, Any]) -> None:
    """Refuse secret values that are too short to be masked reliably.

    :raises WeakSecret: naming the first such key.
    """
    for key in sorted(secrets):
        if any(len(text) < MIN_SECRET_LENGTH for text in _leaves(secrets[key])):
            raise WeakSecret(key)


class Redactor:
    """Scrubs the secret values of one run from results and failures.

    A redactor without secrets returns everything as it was given (the
    same objects), so engines without secrets behave exactly as before.
    """

    def __init__(self, texts: Iterable[str] = ()) -> None:
        unique = {text for text in texts if text}
        # Longest first: a secret that contains another is masked whole.
        self._texts: tuple[str, ...] = tuple(sorted(unique, key=lambda t: -len(t)))

    @classmethod
    def of_secrets(cls, secrets: Mapping[str, Any]) -> Redactor:
        """A redactor for ``{name: secret value}`` (each scalar of a value)."""
        return cls(text for value in secrets.values() for text in _leaves(value))

    def __bool__(self) -> bool:
        return bool(self._texts)

    @property
    def texts(self) -> tuple[str, ...]:
        """The secret texts, longest first."""
        return self._texts

    def merged(self, other: Redactor) -> Redactor:
        """A redactor for the secrets of both."""
        return Redactor((*self._texts, *other._texts))

    # -- scrubbing ----------------------------------------------------------
    def text(self, text: str) -> str:
        """``text`` with every secret value replaced by :data:`MASK`."""
        for secret in self._texts:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def value(self, value: Any) -> Any:
        """``value`` with secrets scrubbed; the very object when none is in it.

        Strings are scrubbed where a secret occurs in them, numbers when
        they are a secret, containers (dict keys too) item by item, a
        ``Failure`` with :meth:`failure`. Another object is kept unless its
        ``repr`` shows a secret, then it becomes that ``repr``, scrubbed.
        """
        if not self._texts or value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, int | float):
            return MASK if str(value) in self._texts else value
        if isinstance(value, Failure):
            return self.failure(value)
        if isinstance(value, Mapping):
            pairs = [(self.value(k), self.value(v)) for k, v in value.items()]
            if all(
                new_key is key and new_item is item
                for (new_key, new_item), (key, item) in zip(
                    pairs, value.items(), strict=True
                )
            ):
                return value
            return _rebuilt(value, dict(pairs))
        if isinstance(value, list | tuple | set | frozenset):
            items = [self.value(item) for item in value]
            if all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return _rebuilt(value, items)
        shown = repr(value)
        scrubbed_repr = self.text(shown)
        return value if scrubbed_repr == shown else scrubbed_repr

    def failure(self, failure: Failure) -> Failure:
        """A copy of ``failure`` with secrets scrubbed; itself when clean."""
        if not self._texts:
            return failure
        scrubbed = failure.redacted(self.text, self.value)
        return failure if scrubbed == failure else scrubbed

    def outcome(self, outcome: Any) -> Any:
        """A task's result or ``Failure``, scrubbed."""
        return self.value(outcome)

    # -- what travels -------------------------------------------------------
    def found_in(self, *values: Any) -> list[str]:
        """The secret texts that occur in ``values`` (for a remote worker).

        A worker is told only the secrets its task receives, so that it can
        scrub what the task returns without learning the others.
        """
        if not self._texts:
            return []
        strings = list(_strings(values))
        return [s for s in self._texts if any(s in text for text in strings)]


def _rebuilt(original: Any, scrubbed: Any) -> Any:
    """``scrubbed`` as the same kind of container as ``original`` if it can be."""
    kind = type(original)
    if isinstance(original, tuple) and hasattr(original, "_fields"):
        return kind(*scrubbed)  # a named tuple
    try:
        return kind(scrubbed)
    except Exception:  # a container whose constructor wants something else
        return scrubbed


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, Failure):
        yield value.exception_str
        yield value.traceback_str
        yield from _strings(value.exception_args)
        for cause in value.causes:
            yield from _strings(cause)
    elif value is not None and not isinstance(value, bool):
        yield str(value) if isinstance(value, int | float) else repr(value)


#: The redactor of a run without secrets.
NO_SECRETS = Redactor()
