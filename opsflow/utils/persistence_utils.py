"""Create logbooks and flow details, saved to a backend when one is given.

The short-lived logbooks these make are what tests and one-shot scripts use
to give an engine somewhere to record a run.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from opsflow.persistence import base, models

__all__ = ["create_flow_detail", "temporary_flow_detail", "temporary_log_book"]

LOG = logging.getLogger(__name__)


def _save(backend: base.Backend | None, book: models.LogBook) -> None:
    if backend is not None:
        with contextlib.closing(backend.get_connection()) as conn:
            conn.save_logbook(book)


def temporary_log_book(backend: base.Backend | None = None) -> models.LogBook:
    """A new logbook named ``tmp``, saved to ``backend`` if given."""
    book = models.LogBook("tmp")
    _save(backend, book)
    return book


def temporary_flow_detail(
    backend: base.Backend | None = None, meta: Mapping[str, Any] | None = None
) -> tuple[models.LogBook, models.FlowDetail]:
    """A new logbook holding one new flow detail, both saved to ``backend``."""
    book = temporary_log_book(backend)
    flow_detail = models.FlowDetail(name="tmp-flow-detail")
    flow_detail.meta.update(meta or {})
    book.add(flow_detail)
    _save(backend, book)
    return book, flow_detail


def create_flow_detail(
    flow: Any,
    book: models.LogBook | None = None,
    backend: base.Backend | None = None,
    meta: Mapping[str, Any] | None = None,
) -> models.FlowDetail:
    """A flow detail named after ``flow``, added to ``book`` and saved.

    With a backend but no book, a temporary logbook is made to hold it (and
    a warning says so, since nothing else will refer to that logbook).
    """
    flow_detail = models.FlowDetail(name="")
    flow_detail.name = getattr(flow, "name", None) or flow_detail.uuid
    flow_detail.meta.update(meta or {})
    if backend is not None and book is None:
        LOG.warning("No logbook given for flow %s; a temporary one is made", flow)
        book = temporary_log_book(backend)
    if book is not None:
        book.add(flow_detail)
        _save(backend, book)
    return flow_detail
