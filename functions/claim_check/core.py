"""Keep a Pipes batch within the target's input limit by a claim check; no I/O but the port.

A batch whose compact JSON is at most ``INLINE_BATCH_LIMIT_BYTES`` goes on unchanged. A bigger
one is stored (a JSON array of the same records) under a key derived from its content, and the
target gets a pointer to it (:mod:`functions._shared.batch_pointer`). The same batch always
lands on the same key, so a redelivered batch (a failed start, a retry of the enrichment)
overwrites identical bytes instead of adding a copy. The pointer is an array
because Pipes hand an enrichment's array to a batch target as is; an object's treatment is not
documented.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Protocol

from functions._shared.batch_pointer import BATCH_PREFIX, INLINE_BATCH_LIMIT_BYTES, BatchPointer


class BatchStore(Protocol):
    """Where claim-checked batches are kept (S3 on AWS and locally)."""

    @property
    def bucket(self) -> str: ...

    def put(self, key: str, body: bytes) -> None: ...


@dataclass(frozen=True)
class ClaimCheck:
    """What the target gets (``payload``) and whether the batch was stored to get there."""

    payload: list[Any]
    stored: bool
    size: int


def batch_key(body: bytes) -> str:
    """The content-addressed key of a stored batch.

    >>> batch_key(b"[]")
    'batches/4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945.json'
    """
    return f"{BATCH_PREFIX}{hashlib.sha256(body).hexdigest()}.json"


def serialised(records: list[Any]) -> bytes:
    """The batch as the target would get it: compact JSON, UTF-8 (Step Functions counts bytes)."""
    return json.dumps(records, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def claim_check(
    records: list[Any], store: BatchStore, *, limit: int = INLINE_BATCH_LIMIT_BYTES
) -> ClaimCheck:
    """``records`` unchanged when they fit ``limit`` bytes, else a pointer to them in ``store``.

    >>> class Store:
    ...     bucket = "staging"
    ...     def put(self, key, body): self.kept = (key, body)
    >>> claim_check([{"body": "small"}], Store()).payload
    [{'body': 'small'}]
    >>> pointer = claim_check([{"body": "x" * 50}], Store(), limit=10).payload[0]["batchPointer"]
    >>> pointer["records"], pointer["bytes"], pointer["key"].startswith("batches/")
    (1, 63, True)
    """
    body = serialised(records)
    if len(body) <= limit:
        return ClaimCheck(payload=records, stored=False, size=len(body))
    key = batch_key(body)
    store.put(key, body)
    pointer = BatchPointer(bucket=store.bucket, key=key, records=len(records), bytes=len(body))
    return ClaimCheck(payload=pointer.to_payload(), stored=True, size=len(body))
