"""``greenthread``: tasks run on a futurist green thread pool (eventlet).

Green threads only switch when a task does green I/O, so tasks must use
eventlet-patched modules (``eventlet.monkey_patch()`` at program start, before
anything else is imported) or they run one after the other. OpenStack is
moving its services off eventlet (it is in maintenance and blocks Python's
newer features); prefer ``thread`` unless your tasks already live in an
eventlet program.
"""

from __future__ import annotations

from typing import Any

from opsflow import exceptions
from opsflow.executors.base import FuturesTaskExecutor

__all__ = ["GreenThreadDriver"]


def _green_pool(max_workers: int | None) -> Any:
    from opsflow.executors.pools import futurist

    return futurist(green=True).GreenThreadPoolExecutor(max_workers=max_workers or 1000)


class GreenThreadDriver(FuturesTaskExecutor):
    """A pool of ``max_workers`` green threads (1,000 when None)."""

    def __init__(self, max_workers: int | None = None) -> None:
        super().__init__(factory=lambda: _green_pool(max_workers))

    def check_available(self) -> None:
        """Refuse to run without eventlet (``MissingPackage``), before any task.

        It is imported for real: a package that is there but cannot be
        imported is as missing as one that is not there.
        """
        try:
            import eventlet  # noqa: F401
        except ImportError as exc:
            raise exceptions.MissingPackage(
                "the greenthread executor", "eventlet", "eventlet"
            ) from exc
