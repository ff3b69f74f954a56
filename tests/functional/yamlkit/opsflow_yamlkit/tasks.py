"""One task that writes each execute and revert to a journal file."""

from __future__ import annotations

import time

from opsflow import task


def _lines(journal: str) -> list[str]:
    try:
        with open(journal, encoding="utf-8") as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return []


def _write(journal: str, line: str) -> None:
    with open(journal, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")


class Step(task.Task):
    """Journal ``execute NAME [ITEM]``; fail on demand; return ``value`` or NAME.

    Sleeps ``delay`` seconds after journaling (to be interrupted).
    Fails when ``fail_at`` names it, during its first ``fail_times[NAME]``
    executions, or when it gets an ``item`` that is not ``good``.
    """

    def execute(
        self,
        journal,
        fail_at=None,
        fail_times=None,
        item=None,
        good=None,
        value=None,
        delay=None,
        **extra,
    ):
        done = sum(
            1
            for line in _lines(journal)
            if line.split(" ")[:2] == ["execute", self.name]
        )
        _write(journal, f"execute {self.name}" + ("" if item is None else f" {item}"))
        if delay:
            time.sleep(float(delay))
        if fail_at == self.name:
            raise RuntimeError(f"{self.name} fails on purpose")
        if fail_times and done < int(fail_times.get(self.name, 0)):
            raise RuntimeError(f"{self.name} fails attempt {done + 1} on purpose")
        if item is not None and good is not None and item != good:
            raise RuntimeError(f"{self.name} refuses {item!r}")
        return self.name if value is None else value

    def revert(self, journal, *args, **kwargs):
        _write(journal, f"revert {self.name}")
