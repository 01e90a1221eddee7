"""JSON for journal rows, keeping the two types moto's state holds that JSON lacks.

>>> decode(encode({"raw": b"\\x00", "at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}))["raw"]
b'\\x00'
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

__all__ = ["decode", "encode"]


def _tagged(value: object) -> object:
    if isinstance(value, bytes | bytearray):
        return {"$bytes": base64.b64encode(value).decode()}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"a {type(value).__name__} cannot be journaled")


def _untagged(obj: dict[str, Any]) -> object:
    if len(obj) == 1:
        if "$bytes" in obj:
            return base64.b64decode(obj["$bytes"])
        if "$datetime" in obj:
            return dt.datetime.fromisoformat(obj["$datetime"])
    return obj


def encode(value: Any) -> str:
    return json.dumps(value, default=_tagged, separators=(",", ":"))


def decode(text: str) -> Any:
    return json.loads(text, object_hook=_untagged)
