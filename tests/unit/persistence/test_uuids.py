"""The uuids records are given: valid random (version 4) uuids, never twice,
not even across a fork."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from opsflow.persistence import models


def test_record_uuids_are_version_4_rfc_4122_uuids_in_canonical_text():
    made = [models.new_uuid() for _ in range(3 * models.UUIDS_A_BATCH)]
    for text in made:
        parsed = uuid.UUID(text)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == text
    assert len(set(made)) == len(made)
    assert models.TaskDetail("t").uuid != models.TaskDetail("t").uuid


def test_threads_never_get_the_same_uuid():
    made: list[list[str]] = [[] for _ in range(4)]

    def take(into: list[str]) -> None:
        into.extend(models.new_uuid() for _ in range(2000))

    threads = [threading.Thread(target=take, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [text for into in made for text in into]
    assert len(set(every)) == len(every) == 8000


# eventlet, when something imported it (futurist does), warns on every fork.
@pytest.mark.filterwarnings(r"ignore:Using fork\(\) is a bad idea:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_does_not_reuse_the_parents_spare_uuids():
    models.new_uuid()  # the parent now holds spare uuids
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next uuids, then leave at once
        try:
            os.write(write, ",".join(models.new_uuid() for _ in range(5)).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        childs = pipe.read().split(",")
    os.waitpid(pid, 0)
    parents = [models.new_uuid() for _ in range(models.UUIDS_A_BATCH)]
    assert len(childs) == 5
    assert not set(childs) & set(parents)
