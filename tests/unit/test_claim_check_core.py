"""claim_check's decision: inline while the batch fits, else a content-addressed pointer; and
validate's reading of the pointer and of a message too big to be an event."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from functions._shared.batch_pointer import INLINE_BATCH_LIMIT_BYTES, BatchPointer
from functions._shared.errors import InvalidEnvelopeError
from functions.claim_check.core import batch_key, claim_check, serialised
from functions.validate.sources import (
    MAX_MESSAGE_BODY_BYTES,
    PipeBatch,
    read_pipe_batch,
    stored_batch_pointer,
)
from tests.unit.test_validate_sources import VALID_EVENTS, record


class MemoryStore:
    bucket = "staging"

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes) -> None:
        self.objects[key] = body


def batch_of(*sizes: int) -> list[dict[str, Any]]:
    return [record(f"m{index}", "x" * size) for index, size in enumerate(sizes)]


def test_a_batch_that_fits_goes_inline_and_nothing_is_stored() -> None:
    store = MemoryStore()
    records = batch_of(1000, 1000)
    checked = claim_check(records, store)
    assert checked.payload is records
    assert not checked.stored
    assert store.objects == {}


def test_the_limit_is_inclusive_and_counts_utf8_bytes() -> None:
    store = MemoryStore()
    records = [record("m0", "é" * 10)]
    size = len(serialised(records))
    assert size == len(json.dumps(records, separators=(",", ":"), ensure_ascii=False)) + 10
    assert not claim_check(records, store, limit=size).stored
    assert claim_check(records, store, limit=size - 1).stored


def test_a_batch_over_the_limit_is_stored_by_content_and_replaced_by_a_pointer() -> None:
    store = MemoryStore()
    records = batch_of(150_000, 150_000, 10)
    checked = claim_check(records, store)
    body = serialised(records)
    assert checked.stored
    assert checked.size == len(body) > INLINE_BATCH_LIMIT_BYTES
    [item] = checked.payload
    pointer = BatchPointer.model_validate(item["batchPointer"])
    assert pointer == BatchPointer(
        bucket="staging",
        key=f"batches/{hashlib.sha256(body).hexdigest()}.json",
        records=3,
        bytes=len(body),
    )
    assert json.loads(store.objects[pointer.key]) == records
    assert len(json.dumps(checked.payload)) < 300


def test_the_same_batch_lands_on_the_same_key() -> None:
    first, second = MemoryStore(), MemoryStore()
    claim_check(batch_of(300_000), first)
    claim_check(batch_of(300_000), second)
    assert first.objects == second.objects
    assert list(first.objects) == [batch_key(serialised(batch_of(300_000)))]


def test_validate_recognises_the_pointer_and_nothing_else() -> None:
    store = MemoryStore()
    payload = claim_check(batch_of(300_000), store).payload
    pointer = stored_batch_pointer(payload)
    assert pointer is not None
    assert pointer.records == 1
    assert stored_batch_pointer(batch_of(10)) is None
    assert stored_batch_pointer({"batchPointer": {}}) is None
    assert stored_batch_pointer([]) is None


@pytest.mark.parametrize(
    "pointer",
    [
        {"bucket": "staging", "key": "elsewhere/a.json", "records": 1, "bytes": 10},
        {"bucket": "staging", "key": "batches/a.json", "records": 0, "bytes": 10},
        {"bucket": " ", "key": "batches/a.json", "records": 1, "bytes": 10},
        "batches/a.json",
    ],
)
def test_a_malformed_pointer_is_an_invalid_envelope(pointer: Any) -> None:
    with pytest.raises(InvalidEnvelopeError):
        stored_batch_pointer([{"batchPointer": pointer}])


def test_a_message_too_big_to_be_an_event_is_rejected_alone() -> None:
    huge = dict(VALID_EVENTS[0], padding="p" * MAX_MESSAGE_BODY_BYTES)
    records = [record("big", huge), record("small", VALID_EVENTS[1])]
    envelope, _ = read_pipe_batch(PipeBatch.model_validate(records))
    payload = envelope.to_payload()
    assert payload["counts"] == {"received": 2, "valid": 1, "rejected": 1}
    [rejection] = payload["rejected"]
    assert rejection["messageId"] == "big"
    size = len(json.dumps(huge).encode())
    assert rejection["errors"] == [
        {
            "field": "$",
            "reason": f"the message body is {size:,} bytes; a message may hold at most "
            f"{MAX_MESSAGE_BODY_BYTES:,}, so that its events fit a workflow's state",
        }
    ]


def test_a_message_of_exactly_the_limit_is_judged_as_any_other() -> None:
    body = json.dumps(VALID_EVENTS[0])
    padded = body[:-1] + ', "p": "' + "p" * (MAX_MESSAGE_BODY_BYTES - len(body) - 9) + '"}'
    assert len(padded.encode()) == MAX_MESSAGE_BODY_BYTES
    envelope, _ = read_pipe_batch(PipeBatch.model_validate([record("edge", padded)]))
    assert envelope.counts == {"received": 1, "valid": 1, "rejected": 0}
