"""archive's S3 adapter against a hand-written fake client: the copy request, errors, heads."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions._shared.errors import TransientDependencyError
from functions.archive.adapters import S3ArchiveStore
from functions.archive.core import CopyRequest

REQUEST = CopyRequest(
    source_bucket="staging",
    source_key="staging/trk-1/x.ndjson.gz",
    source_etag='"etag-1"',
    bucket="archive",
    key="bundles/ab/ab.ndjson.gz",
    size=1234,
    metadata={"count": "4", "sha256": "ab", "source": "api", "tracking-id": "trk-1"},
)


def client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "test"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Operation",
    )


class FakeS3:
    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def _call(self, operation: str, *args: Any, **request: Any) -> dict[str, Any]:
        self.calls.append((operation, args, request))
        if self.failure is not None:
            raise self.failure
        return {}

    def copy_object(self, **request: Any) -> dict[str, Any]:
        return self._call("copy_object", **request)

    def copy(self, *args: Any, **request: Any) -> None:
        self._call("copy", *args, **request)

    def head_object(self, **request: Any) -> dict[str, Any]:
        self._call("head_object", **request)
        return {"ContentLength": 10, "ETag": '"e"', "Metadata": {"SHA256": "ab"}}


def test_a_bundle_is_copied_server_side_with_sse_s3_and_replaced_metadata() -> None:
    client = FakeS3()

    S3ArchiveStore(client=client).copy(REQUEST)

    [(operation, _, request)] = client.calls
    assert operation == "copy_object"
    assert request == {
        "Bucket": "archive",
        "Key": "bundles/ab/ab.ndjson.gz",
        "CopySource": {"Bucket": "staging", "Key": "staging/trk-1/x.ndjson.gz"},
        "CopySourceIfMatch": '"etag-1"',
        "MetadataDirective": "REPLACE",
        "Metadata": dict(REQUEST.metadata),
        "ContentType": "application/x-ndjson",
        "ContentEncoding": "gzip",
        "ServerSideEncryption": "AES256",
    }


def test_a_kms_key_switches_the_copy_to_sse_kms() -> None:
    client = FakeS3()

    S3ArchiveStore(client=client, kms_key_id="alias/archive").copy(REQUEST)

    request = client.calls[0][2]
    assert request["ServerSideEncryption"] == "aws:kms"
    assert request["SSEKMSKeyId"] == "alias/archive"
    assert request["BucketKeyEnabled"] is True


def test_bundles_too_big_for_one_copy_request_use_the_managed_multipart_copy() -> None:
    client = FakeS3()

    S3ArchiveStore(client=client, copy_object_limit=1000).copy(REQUEST)

    [(operation, args, request)] = client.calls
    assert operation == "copy"
    assert args == (
        {"Bucket": "staging", "Key": "staging/trk-1/x.ndjson.gz"},
        "archive",
        "bundles/ab/ab.ndjson.gz",
    )
    assert request["ExtraArgs"]["Metadata"] == dict(REQUEST.metadata)
    assert request["ExtraArgs"]["ServerSideEncryption"] == "AES256"


@pytest.mark.parametrize(
    ("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("PreconditionFailed", 412)]
)
def test_throttling_server_errors_and_a_changed_source_are_transient(
    code: str, status: int
) -> None:
    store = S3ArchiveStore(client=FakeS3(client_error(code, status)))

    with pytest.raises(TransientDependencyError):
        store.copy(REQUEST)


def test_access_denied_is_permanent() -> None:
    store = S3ArchiveStore(client=FakeS3(client_error("AccessDenied", 403)))

    with pytest.raises(ClientError):
        store.copy(REQUEST)


def test_head_reads_size_etag_and_lower_cased_metadata() -> None:
    head = S3ArchiveStore(client=FakeS3()).head("archive", "k")

    assert head is not None
    assert (head.size, head.etag, dict(head.metadata)) == (10, '"e"', {"sha256": "ab"})


def test_head_of_a_missing_key_is_none() -> None:
    assert S3ArchiveStore(client=FakeS3(client_error("404", 404))).head("archive", "k") is None
