"""Turn atom results, failures and metadata into JSON values and back.

Database backends keep results, failures and ``meta`` in JSON columns. JSON
has no tuples, sets, bytes, dates, non-string keys or ``Failure``; those
are written as small tagged objects (``{"__opsflow__": "tuple", ...}``) and
come back as they went in. A value of any other type (an arbitrary object a
task returned) cannot be rebuilt from JSON: it is stored as its ``repr``
under the tag ``repr`` and a warning is logged, so a run never fails
because of how a result is stored; a resumed run sees the text.
"""

from __future__ import annotations

import base64
import datetime
import logging
from typing import Any

from opsflow.types.failure import Failure

__all__ = ["TAG", "decode", "encode"]

LOG = logging.getLogger(__name__)

#: The key marking a tagged (non-JSON) value.
TAG = "__opsflow__"

_SCALARS = (str, int, float, bool, type(None))


def encode(value: Any) -> Any:
    """``value`` as plain JSON types (dict with str keys, list, scalars)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is list:
        return [encode(item) for item in value]
    if kind is dict:
        if TAG not in value and all(type(key) is str for key in value):
            return {key: encode(item) for key, item in value.items()}
        return {
            TAG: "dict",
            "items": [[encode(k), encode(v)] for k, v in value.items()],
        }
    if isinstance(value, Failure):
        return {TAG: "failure", "value": encode(value.to_dict())}
    if kind is tuple:
        return {TAG: "tuple", "items": [encode(item) for item in value]}
    if kind in (set, frozenset):
        return {TAG: kind.__name__, "items": [encode(item) for item in value]}
    if kind is bytes:
        return {TAG: "bytes", "b64": base64.b64encode(value).decode("ascii")}
    if kind is datetime.datetime:
        return {TAG: "datetime", "iso": value.isoformat()}
    if kind is datetime.date:
        return {TAG: "date", "iso": value.isoformat()}
    for scalar in (bool, int, float, str):  # subclasses of these (enums, ...)
        if isinstance(value, scalar):
            return scalar(value)
    LOG.warning(
        "a %s value cannot be stored as JSON; its repr is stored instead",
        kind.__name__,
    )
    return {TAG: "repr", "type": kind.__qualname__, "text": repr(value)}


def _decode_tagged(value: dict[str, Any]) -> Any:
    tag = value[TAG]
    if tag == "dict":
        return {decode(k): decode(v) for k, v in value["items"]}
    if tag == "failure":
        return Failure.from_dict(decode(value["value"]))
    if tag == "tuple":
        return tuple(decode(item) for item in value["items"])
    if tag == "set":
        return {decode(item) for item in value["items"]}
    if tag == "frozenset":
        return frozenset(decode(item) for item in value["items"])
    if tag == "bytes":
        return base64.b64decode(value["b64"])
    if tag == "datetime":
        return datetime.datetime.fromisoformat(value["iso"])
    if tag == "date":
        return datetime.date.fromisoformat(value["iso"])
    if tag == "repr":
        return value["text"]
    raise ValueError(f"unknown stored value tag {tag!r}")


def decode(value: Any) -> Any:
    """The Python value :func:`encode` was given."""
    kind = type(value)
    if kind is list:
        return [decode(item) for item in value]
    if kind is dict:
        if TAG in value:
            return _decode_tagged(value)
        return {key: decode(item) for key, item in value.items()}
    return value
