"""archive's Lambda against S3 in moto: content keys, encryption, metadata, idempotent repeats."""

from __future__ import annotations

import copy
import gzip
import hashlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions._shared import names
from functions._shared.errors import ConfigurationError, InvalidEnvelopeError
from functions.archive.adapters import S3ArchiveStore
from functions.archive.core import CopyRequest
from tests.events import load_event
from tests.functional.conftest import REGION, FakeLambdaContext, HandlerLoader, emitted_metrics

STAGING = "stepflow-test-staging"
ARCHIVE = "stepflow-test-archive"
LANDING = "stepflow-test-landing"
KMS_ENV = "ARCHIVE_KMS_KEY_ID"
BUNDLE = gzip.compress(b'{"a":1}\n{"b":2}\n{"c":3}\n{"d":4}\n', mtime=0)
SHA = hashlib.sha256(BUNDLE).hexdigest()
ARCHIVE_KEY = f"bundles/{SHA[:2]}/{SHA}.ndjson.gz"


@pytest.fixture
def s3(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Staging, landing and a versioned archive bucket in moto, named as the stack names them."""
    monkeypatch.setenv(names.STAGING_BUCKET_ENV, STAGING)
    monkeypatch.setenv(names.ARCHIVE_BUCKET_ENV, ARCHIVE)
    monkeypatch.setenv(names.LANDING_BUCKET_ENV, LANDING)
    monkeypatch.delenv(KMS_ENV, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for bucket in (STAGING, ARCHIVE, LANDING):
            client.create_bucket(Bucket=bucket)
        client.put_bucket_versioning(Bucket=ARCHIVE, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def archive(s3: Any, load_handler: HandlerLoader) -> ModuleType:
    return load_handler("archive")


def staged_envelope(s3: Any, body: bytes = BUNDLE) -> dict[str, Any]:
    envelope: dict[str, Any] = copy.deepcopy(load_event("archive_envelope.json"))
    s3.put_object(Bucket=STAGING, Key=envelope["bundle"]["key"], Body=body)
    envelope["bundle"].update({"size": len(body), "sha256": hashlib.sha256(body).hexdigest()})
    return envelope


def versions(s3: Any, key: str) -> list[Any]:
    listed: list[Any] = s3.list_object_versions(Bucket=ARCHIVE, Prefix=key).get("Versions", [])
    return listed


def test_a_bundle_is_archived_under_its_content_key_encrypted_with_metadata(
    archive: ModuleType,
    s3: Any,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    envelope = staged_envelope(s3)

    result = archive.lambda_handler(copy.deepcopy(envelope), lambda_context)

    assert result["archive"] == {"bucket": ARCHIVE, "key": ARCHIVE_KEY, "created": True}
    assert {key: value for key, value in result.items() if key != "archive"} == envelope
    stored = s3.get_object(Bucket=ARCHIVE, Key=ARCHIVE_KEY)
    assert stored["Body"].read() == BUNDLE
    assert stored["ServerSideEncryption"] == "AES256"
    assert stored["Metadata"] == {
        "count": "4",
        "sha256": SHA,
        "source": "api",
        "tracking-id": envelope["trackingId"],
    }
    assert (stored["ContentType"], stored["ContentEncoding"]) == ("application/x-ndjson", "gzip")
    assert emitted_metrics(capsys.readouterr().out)["BundlesArchived"] == 1


def test_a_repeat_is_a_no_op_that_writes_no_new_version(
    archive: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    envelope = staged_envelope(s3)
    archive.lambda_handler(copy.deepcopy(envelope), lambda_context)

    again = archive.lambda_handler(copy.deepcopy(envelope), lambda_context)

    assert again["archive"] == {"bucket": ARCHIVE, "key": ARCHIVE_KEY, "created": False}
    assert len(versions(s3, ARCHIVE_KEY)) == 1


def test_the_same_content_from_another_execution_is_not_archived_twice(
    archive: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    first = staged_envelope(s3)
    archive.lambda_handler(first, lambda_context)
    other = copy.deepcopy(first)
    other["trackingId"] = "trk-other"
    other["bundle"]["key"] = "staging/trk-other/1a2b.ndjson.gz"
    s3.put_object(Bucket=STAGING, Key=other["bundle"]["key"], Body=BUNDLE)

    result = archive.lambda_handler(other, lambda_context)

    assert result["archive"]["key"] == ARCHIVE_KEY
    assert result["archive"]["created"] is False


def test_a_kms_key_in_the_environment_switches_to_sse_kms(
    s3: Any,
    load_handler: HandlerLoader,
    monkeypatch: pytest.MonkeyPatch,
    lambda_context: FakeLambdaContext,
) -> None:
    key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
    monkeypatch.setenv(KMS_ENV, key_id)
    archive = load_handler("archive")

    archive.lambda_handler(staged_envelope(s3), lambda_context)

    head = s3.head_object(Bucket=ARCHIVE, Key=ARCHIVE_KEY)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert key_id in head["SSEKMSKeyId"]


def test_an_object_at_the_key_without_the_hash_is_replaced_and_kept_as_a_version(
    archive: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    s3.put_object(Bucket=ARCHIVE, Key=ARCHIVE_KEY, Body=b"half-written")

    result = archive.lambda_handler(staged_envelope(s3), lambda_context)

    assert result["archive"]["created"] is True
    assert s3.get_object(Bucket=ARCHIVE, Key=ARCHIVE_KEY)["Body"].read() == BUNDLE
    assert len(versions(s3, ARCHIVE_KEY)) == 2


def test_a_bundle_neither_staged_nor_archived_fails_permanently(
    archive: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    envelope = staged_envelope(s3)
    s3.delete_object(Bucket=STAGING, Key=envelope["bundle"]["key"])

    with pytest.raises(InvalidEnvelopeError, match="not staged"):
        archive.lambda_handler(envelope, lambda_context)
    assert versions(s3, ARCHIVE_KEY) == []


def test_a_malformed_bundle_pointer_fails_permanently(
    archive: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    envelope = staged_envelope(s3)
    envelope["bundle"]["sha256"] = "not-a-hash"

    with pytest.raises(InvalidEnvelopeError, match="sha256"):
        archive.lambda_handler(envelope, lambda_context)


def test_the_output_of_bundle_archives_as_is(
    s3: Any, load_handler: HandlerLoader, lambda_context: FakeLambdaContext
) -> None:
    bundle = load_handler("bundle")
    archive = load_handler("archive")

    bundled = bundle.lambda_handler(load_event("bundle_events_envelope.json"), lambda_context)
    archived = archive.lambda_handler(bundled, lambda_context)

    sha = bundled["bundle"]["sha256"]
    assert archived["archive"]["key"] == f"bundles/{sha[:2]}/{sha}.ndjson.gz"
    data = s3.get_object(Bucket=ARCHIVE, Key=archived["archive"]["key"])["Body"].read()
    assert hashlib.sha256(data).hexdigest() == sha
    assert len(gzip.decompress(data).splitlines()) == bundled["bundle"]["count"] == 4


def test_the_multipart_copy_path_keeps_metadata_and_encryption(s3: Any) -> None:
    envelope = staged_envelope(s3)
    store = S3ArchiveStore(client=boto3.client("s3", region_name=REGION), copy_object_limit=1)
    staged = store.head(STAGING, envelope["bundle"]["key"])
    assert staged is not None

    store.copy(
        CopyRequest(
            source_bucket=STAGING,
            source_key=envelope["bundle"]["key"],
            source_etag=staged.etag,
            bucket=ARCHIVE,
            key=ARCHIVE_KEY,
            size=len(BUNDLE),
            metadata={"count": "4", "sha256": SHA, "source": "api", "tracking-id": "trk"},
        )
    )

    head = s3.head_object(Bucket=ARCHIVE, Key=ARCHIVE_KEY)
    assert head["Metadata"]["sha256"] == SHA
    assert head["ServerSideEncryption"] == "AES256"


def test_the_function_refuses_to_start_without_its_archive_bucket(
    s3: Any, load_handler: HandlerLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(names.ARCHIVE_BUCKET_ENV)

    with pytest.raises(ConfigurationError, match=names.ARCHIVE_BUCKET_ENV):
        load_handler("archive")
