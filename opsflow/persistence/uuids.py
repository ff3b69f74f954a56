"""Random (version 4) uuids for new records, made in batches.

``str(uuid.uuid4())`` reads the system's random source and builds a
``UUID`` object for each id: about 2 us, paid once per atom when a flow of
thousands is prepared. These are the same ids (122 random bits from
``os.urandom``, the version and variant bits set as RFC 4122 says) with one
read of the random source per batch and only string slicing per id.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

__all__ = ["random_uuids"]

#: Ids drawn from the random source at a time.
BATCH = 256
#: The variant nibble (binary 10xx) for each random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def random_uuids() -> Iterator[str]:
    """An endless supply of distinct random uuids, in canonical text form."""
    variant = _VARIANT
    while True:
        hexes = os.urandom(16 * BATCH).hex()
        for start in range(0, 32 * BATCH, 32):
            h = hexes[start : start + 32]
            yield (
                f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant[h[16]]}{h[17:20]}-{h[20:32]}"
            )
