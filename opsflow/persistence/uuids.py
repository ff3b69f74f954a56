"""Random (version 4) uuids for new records, made in batches.

``str(uuid.uuid4())`` reads the system's random source and builds a
``UUID`` object for each id: about 2 us, paid once per atom when a flow of
thousands is prepared. These are the same ids (122 random bits from
``os.urandom``, the version and variant bits set as RFC 4122 says), made a
batch at a time: each of the five groups of a uuid's text is drawn for the
whole batch with one read of the random source and written out by one
``bytes.hex`` call, and the ids are joined from those columns, so no Python
code runs per id.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

__all__ = ["random_uuids"]

#: Ids drawn from the random source at a time.
BATCH = 256
#: The third group starts with the version digit (4); the fourth with the
#: variant bits (binary 10): both set on a whole column at once.
_VERSION_KEEP = int.from_bytes(b"\x0f\xff" * BATCH, "big")
_VERSION_SET = int.from_bytes(b"\x40\x00" * BATCH, "big")
_VARIANT_KEEP = int.from_bytes(b"\x3f\xff" * BATCH, "big")
_VARIANT_SET = int.from_bytes(b"\x80\x00" * BATCH, "big")


def _column(width: int, keep: int = 0, bits: int = 0) -> list[str]:
    """One group of every id of a batch: ``width`` random bytes each, in hex,
    with the bits outside ``keep`` set to ``bits`` when ``bits`` is given."""
    data = os.urandom(width * BATCH)
    if bits:
        data = (int.from_bytes(data, "big") & keep | bits).to_bytes(len(data), "big")
    return data.hex(" ", width).split()


def _batch() -> list[str]:
    columns = (
        _column(4),
        _column(2),
        _column(2, _VERSION_KEEP, _VERSION_SET),
        _column(2, _VARIANT_KEEP, _VARIANT_SET),
        _column(6),
    )
    return list(map("-".join, zip(*columns, strict=True)))


def random_uuids() -> Iterator[str]:
    """An endless supply of distinct random uuids, in canonical text form."""
    # iter(f, sentinel) calls _batch for ever (a list is never None).
    return itertools.chain.from_iterable(iter(_batch, None))
