"""Listings as rows and columns, in the ``openstack`` CLI's output formats.

``--list``, ``--history`` and the steps of ``--show`` are tables; with
``-f table|json|yaml|csv|value`` (and ``-c COLUMN``, repeatable) they are
written as the ``openstack`` command writes its listings, for scripts:
``json`` and ``yaml`` a list of mappings, ``csv`` a header then quoted
rows, ``value`` the bare values separated by spaces, one row a line.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from opsflow.cli.exits import UsageError

__all__ = ["ROW_FORMATS", "Listing", "write_listing", "write_selected"]

#: The formats of a listing's rows (``text`` and ``json`` without ``-c``
#: keep each listing's own layout and document).
ROW_FORMATS = ("table", "json", "yaml", "csv", "value")


class Listing:
    """Rows of one listing, every row a mapping over the same columns."""

    def __init__(
        self, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
    ) -> None:
        self.columns = tuple(columns)
        self.rows = [{name: row.get(name) for name in self.columns} for row in rows]

    def select(self, wanted: Sequence[str], what: str) -> Listing:
        """Only the ``wanted`` columns, in that order (any letter case).

        :raises UsageError: a column the listing does not have (exit 64);
            the message lists those it has.
        """
        if not wanted:
            return self
        by_folded = {name.casefold(): name for name in self.columns}
        chosen = []
        for name in wanted:
            column = by_folded.get(name.casefold())
            if column is None:
                raise UsageError(
                    f"-c {name}: {what} has no such column; its columns: "
                    + ", ".join(self.columns)
                )
            chosen.append(column)
        return Listing(chosen, self.rows)


def write_selected(
    listing: Listing, fmt: str, columns: Sequence[str], what: str, out: TextIO
) -> None:
    """``listing`` as ``-f fmt`` and ``-c columns`` ask (``text``: a table)."""
    chosen = listing.select(columns, what)
    write_listing(chosen, "table" if fmt == "text" else fmt, out)


def write_listing(listing: Listing, fmt: str, out: TextIO) -> None:
    """Write ``listing`` in ``fmt``, one of :data:`ROW_FORMATS`."""
    if fmt == "json":
        out.write(json.dumps(listing.rows, indent=2) + "\n")
    elif fmt == "yaml":
        import yaml

        out.write(yaml.safe_dump(listing.rows, sort_keys=False, allow_unicode=True))
    elif fmt == "csv":
        writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(listing.columns)
        for row in listing.rows:
            writer.writerow([_cell(row[name], csv_cell=True) for name in row])
    elif fmt == "value":
        for row in listing.rows:
            out.write(" ".join(_cell(value) for value in row.values()) + "\n")
    else:
        _write_table(listing, out)


def _write_table(listing: Listing, out: TextIO) -> None:
    cells = [[_cell(row[name]) for name in listing.columns] for row in listing.rows]
    widths = [
        max([len(name), *(len(line[index]) for line in cells)])
        for index, name in enumerate(listing.columns)
    ]
    rule = "+" + "+".join("-" * (width + 2) for width in widths) + "+\n"

    def line(values: Sequence[str]) -> str:
        padded = (
            f" {value:<{width}} " for value, width in zip(values, widths, strict=True)
        )
        return "|" + "|".join(padded) + "|\n"

    out.write(rule + line(listing.columns) + rule)
    for values in cells:
        out.write(line(values))
    out.write(rule)


def _cell(value: Any, csv_cell: bool = False) -> Any:
    """A value on one line: numbers stay numbers in CSV, None is empty."""
    if value is None:
        return ""
    if csv_cell and isinstance(value, int | float) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return " ".join(value.split())
    return json.dumps(value)
