"""archive's decisions against an in-memory store: content keys, no-op repeats, bad pointers."""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest

from functions._shared.errors import InvalidEnvelopeError
from functions._shared.parsing import parse_envelope
from functions.archive.core import (
    ArchiveEnvelope,
    CopyRequest,
    ObjectHead,
    archive_bundle,
    archive_key,
)
from tests.events import load_event

ARCHIVE = "archive-bucket"
STAGING = "stepflow-test-staging"
BUNDLE_BYTES = b"\x1f\x8b pretend this is a gzip bundle"
SHA = hashlib.sha256(BUNDLE_BYTES).hexdigest()


class InMemoryArchiveStore:
    """:class:`functions.archive.core.ArchiveStore` over ``{(bucket, key): (bytes, metadata)}``."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = {}
        self.copies: list[CopyRequest] = []

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        stored = self.objects.get((bucket, key))
        if stored is None:
            return None
        data, metadata = stored
        return ObjectHead(size=len(data), etag=hashlib.md5(data).hexdigest(), metadata=metadata)

    def copy(self, request: CopyRequest) -> None:
        data, _ = self.objects[(request.source_bucket, request.source_key)]
        assert request.source_etag == hashlib.md5(data).hexdigest()
        self.copies.append(request)
        self.objects[(request.bucket, request.key)] = (data, dict(request.metadata))


def envelope(**bundle_changes: Any) -> ArchiveEnvelope:
    payload: dict[str, Any] = copy.deepcopy(load_event("archive_envelope.json"))
    payload["bundle"].update({"size": len(BUNDLE_BYTES), "sha256": SHA, **bundle_changes})
    return ArchiveEnvelope.model_validate(payload)


def staged_store() -> InMemoryArchiveStore:
    store = InMemoryArchiveStore()
    bundle = envelope().bundle
    store.objects[(bundle.bucket, bundle.key)] = (BUNDLE_BYTES, {})
    return store


def test_the_key_is_derived_from_the_content_hash() -> None:
    assert archive_key(SHA) == f"bundles/{SHA[:2]}/{SHA}.ndjson.gz"


def test_a_new_bundle_is_copied_with_its_metadata() -> None:
    store = staged_store()

    outcome = archive_bundle(envelope(), store, archive_bucket=ARCHIVE, staging_bucket=STAGING)

    [request] = store.copies
    assert (request.bucket, request.key) == (ARCHIVE, archive_key(SHA))
    assert dict(request.metadata) == {
        "count": "4",
        "sha256": SHA,
        "source": "api",
        "tracking-id": "trk-20240302-bundle",
    }
    assert outcome.created is True
    assert outcome.payload["archive"] == {
        "bucket": ARCHIVE,
        "key": archive_key(SHA),
        "created": True,
    }


def test_the_envelope_passes_through_with_archive_added() -> None:
    payload = load_event("archive_envelope.json")

    outcome = archive_bundle(envelope(), staged_store(), archive_bucket=ARCHIVE)

    result = outcome.payload
    assert set(result) == {*payload, "archive"}
    assert result["bundle"] == {**payload["bundle"], "size": len(BUNDLE_BYTES), "sha256": SHA}
    assert result["counts"] == payload["counts"]


def test_a_repeat_is_a_no_op() -> None:
    store = staged_store()
    archive_bundle(envelope(), store, archive_bucket=ARCHIVE)

    again = archive_bundle(envelope(), store, archive_bucket=ARCHIVE)

    assert len(store.copies) == 1
    assert again.created is False
    assert again.payload["archive"]["created"] is False


def test_a_repeat_after_staging_expired_still_succeeds() -> None:
    store = staged_store()
    archive_bundle(envelope(), store, archive_bucket=ARCHIVE)
    bundle = envelope().bundle
    del store.objects[(bundle.bucket, bundle.key)]

    again = archive_bundle(envelope(), store, archive_bucket=ARCHIVE)

    assert again.created is False


def test_a_foreign_object_at_the_content_key_is_replaced() -> None:
    store = staged_store()
    store.objects[(ARCHIVE, archive_key(SHA))] = (b"something else", {"sha256": "f" * 64})

    outcome = archive_bundle(envelope(), store, archive_bucket=ARCHIVE)

    assert outcome.created is True
    assert store.objects[(ARCHIVE, archive_key(SHA))][0] == BUNDLE_BYTES


def test_a_bundle_that_is_neither_staged_nor_archived_is_a_permanent_failure() -> None:
    with pytest.raises(InvalidEnvelopeError, match="not staged"):
        archive_bundle(envelope(), InMemoryArchiveStore(), archive_bucket=ARCHIVE)


def test_a_staged_bundle_of_another_size_is_a_permanent_failure() -> None:
    with pytest.raises(InvalidEnvelopeError, match="bytes"):
        archive_bundle(envelope(size=3), staged_store(), archive_bucket=ARCHIVE)


def test_only_bundles_from_the_staging_bucket_are_archived() -> None:
    with pytest.raises(InvalidEnvelopeError, match="copies from"):
        archive_bundle(
            envelope(bucket="elsewhere"),
            staged_store(),
            archive_bucket=ARCHIVE,
            staging_bucket=STAGING,
        )


def test_non_ascii_ids_are_percent_encoded_in_metadata() -> None:
    payload = load_event("archive_envelope.json")
    payload["trackingId"] = "trk-\u00e9t\u00e9"
    payload["bundle"].update({"size": len(BUNDLE_BYTES), "sha256": SHA})
    store = staged_store()

    archive_bundle(ArchiveEnvelope.model_validate(payload), store, archive_bucket=ARCHIVE)

    assert store.copies[0].metadata["tracking-id"] == "trk-%C3%A9t%C3%A9"


@pytest.mark.parametrize(
    "bundle",
    [
        None,
        {"bucket": "b", "key": "k", "size": 1, "sha256": "XYZ", "count": 1},
        {"bucket": "b", "key": "k", "size": -1, "sha256": "a" * 64, "count": 1},
        {"bucket": "b", "key": "", "size": 1, "sha256": "a" * 64, "count": 1},
    ],
    ids=["missing", "bad-sha", "negative-size", "empty-key"],
)
def test_an_envelope_without_a_usable_bundle_is_invalid(bundle: Any) -> None:
    payload: dict[str, Any] = {"trackingId": "trk-1"}
    if bundle is not None:
        payload["bundle"] = bundle

    with pytest.raises(InvalidEnvelopeError):
        parse_envelope(payload, ArchiveEnvelope)
