"""Replay: re-deliver an archived bundle downstream under its original idempotency key (pure).

The archive keeps each bundle under a key derived from its content
(``bundles/ab/ab12….ndjson.gz``: the sha256 of the bundle), and deliver sends that sha256 as
``Idempotency-Key``. A replay sends the same bytes under the same key, so a receiver that kept
them answers as for a duplicate and one that lost them stores them again. It goes only while
the breaker is closed: a downstream that is down gets no extra traffic from operators either.

Example::

    replay_bundle("bundles/ab/ab12....ndjson.gz", archive, downstream, breaker_state="closed")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final, Protocol

ARCHIVE_KEY_PATTERN: Final = r"^bundles/[0-9a-f]{2}/[0-9a-f]{64}\.ndjson\.gz$"
_SHA256: Final = re.compile(r"([0-9a-f]{64})\.ndjson\.gz$")


class ReplayRefusedError(Exception):
    """The replay cannot go now (the breaker is not closed)."""


class BundleMissingError(Exception):
    """No archived bundle has this key."""


@dataclass(frozen=True)
class ReplayAnswer:
    status: int
    excerpt: str


class Archive(Protocol):
    def read(self, key: str) -> bytes:
        """The archived bundle; raises :class:`BundleMissingError` when there is none."""
        ...


class Downstream(Protocol):
    def post(self, body: bytes, idempotency_key: str) -> ReplayAnswer: ...


def idempotency_key(archive_key: str) -> str:
    """The sha256 the archive key names, which deliver sent as ``Idempotency-Key``.

    >>> idempotency_key("bundles/ab/" + "ab" * 32 + ".ndjson.gz") == "ab" * 32
    True
    """
    found = _SHA256.search(archive_key)
    if found is None:
        raise ValueError(f"{archive_key!r} is not an archive key")
    return found.group(1)


def replay_bundle(
    archive_key: str, archive: Archive, downstream: Downstream, *, breaker_state: str
) -> dict[str, Any]:
    """``{"archiveKey", "idempotencyKey", "statusCode", "delivered"}``."""
    if breaker_state != "closed":
        raise ReplayRefusedError(
            f"the breaker is {breaker_state}: the downstream gets no replays until it closes"
        )
    key = idempotency_key(archive_key)
    answer = downstream.post(archive.read(archive_key), key)
    return {
        "archiveKey": archive_key,
        "idempotencyKey": key,
        "statusCode": answer.status,
        "delivered": 200 <= answer.status < 300,
        "response": answer.excerpt,
    }
