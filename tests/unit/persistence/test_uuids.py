"""Atom detail uuids made in batches are ordinary random uuids."""

from __future__ import annotations

import itertools
import uuid

from opsflow import task
from opsflow.persistence import models
from opsflow.persistence.uuids import BATCH, random_uuids
from opsflow.storage import Storage


def test_each_id_is_a_canonical_version_4_uuid() -> None:
    # More than two batches, so that ids from a refill are checked too.
    ids = list(itertools.islice(random_uuids(), 2 * BATCH + 7))
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
    assert len(set(ids)) == len(ids)


def test_the_random_bits_vary_in_every_position() -> None:
    # A digit stuck in one place (a slicing mistake) would show here: in
    # 2,000 random ids each free hex digit takes many values.
    ids = [text.replace("-", "") for text in itertools.islice(random_uuids(), 2000)]
    for position in range(32):
        seen = {text[position] for text in ids}
        if position == 12:
            assert seen == {"4"}
        elif position == 16:
            assert seen == set("89ab")
        else:
            assert len(seen) == 16


class _NoOp(task.Task):
    def execute(self) -> None:
        return None


def test_storage_gives_new_atoms_distinct_valid_uuids() -> None:
    storage = Storage(models.FlowDetail("flow"))
    uuids = storage.ensure_atoms(_NoOp(name=f"t{i}") for i in range(600))
    assert len(set(uuids)) == 600
    assert all(uuid.UUID(u).version == 4 for u in uuids)
    assert [storage.get_atom_uuid(f"t{i}") for i in range(600)] == uuids
    # Ensuring them again keeps the records (and uuids) they have.
    assert storage.ensure_atoms(_NoOp(name=f"t{i}") for i in range(600)) == uuids
