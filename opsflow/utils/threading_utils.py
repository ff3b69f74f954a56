"""Thread helpers TaskFlow programs use: daemon threads and thread bundles."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "ThreadBundle",
    "daemon_thread",
    "get_ident",
    "get_optimal_thread_count",
    "is_alive",
    "no_op",
]


def is_alive(thread: threading.Thread | None) -> bool:
    """Whether ``thread`` exists and is running."""
    return thread is not None and thread.is_alive()


def get_ident() -> int:
    """The identifier of the calling thread."""
    return threading.get_ident()


def get_optimal_thread_count(default: int = 2) -> int:
    """One thread more than there are CPUs (``default`` if that is unknown)."""
    cpus = os.cpu_count()
    return cpus + 1 if cpus else default


def daemon_thread(
    target: Callable[..., Any], *args: Any, **kwargs: Any
) -> threading.Thread:
    """A thread (not started) that does not keep the interpreter alive."""
    return threading.Thread(target=target, args=args, kwargs=kwargs, daemon=True)


def no_op(*args: Any, **kwargs: Any) -> None:
    """Does nothing (the default callback of :meth:`ThreadBundle.bind`)."""


class _Bound:
    __slots__ = ("factory", "callbacks", "thread")

    def __init__(
        self,
        factory: Callable[[], threading.Thread],
        callbacks: dict[str, Callable[..., Any]],
    ) -> None:
        self.factory = factory
        self.callbacks = callbacks
        self.thread: threading.Thread | None = None


class ThreadBundle:
    """Threads that are started together and stopped (joined) together.

    Each thread comes from a factory given to :meth:`bind`, with optional
    callbacks around its start and its join. Threads are joined in the
    reverse order of their binding.
    """

    _CALLBACKS = ("before_start", "after_start", "before_join", "after_join")

    def __init__(self) -> None:
        self._bound: list[_Bound] = []
        self._lock = threading.Lock()

    def bind(
        self,
        thread_factory: Callable[[], threading.Thread],
        before_start: Callable[[threading.Thread], Any] | None = None,
        after_start: Callable[[threading.Thread], Any] | None = None,
        before_join: Callable[[threading.Thread], Any] | None = None,
        after_join: Callable[[threading.Thread], Any] | None = None,
    ) -> None:
        """Add a thread to be made by ``thread_factory`` when started."""
        given = dict(
            zip(
                self._CALLBACKS,
                (before_start, after_start, before_join, after_join),
                strict=True,
            )
        )
        callbacks = {name: callback or no_op for name, callback in given.items()}
        for name, callback in callbacks.items():
            if not callable(callback):
                raise ValueError(
                    f"Provided callback for argument '{name}' must be callable"
                )
        with self._lock:
            self._bound.append(_Bound(thread_factory, callbacks))

    def start(self) -> int:
        """Make and start every thread not running yet; returns how many."""
        started = 0
        with self._lock:
            for bound in self._bound:
                if bound.thread is not None:
                    continue
                thread = bound.factory()
                bound.callbacks["before_start"](thread)
                thread.start()
                bound.thread = thread
                started += 1
                bound.callbacks["after_start"](thread)
        return started

    def stop(self) -> int:
        """Join every started thread, last bound first; returns how many."""
        stopped = 0
        with self._lock:
            for bound in reversed(self._bound):
                thread = bound.thread
                if thread is None:
                    continue
                bound.callbacks["before_join"](thread)
                thread.join()
                bound.thread = None
                stopped += 1
                bound.callbacks["after_join"](thread)
        return stopped

    def __len__(self) -> int:
        return len(self._bound)
