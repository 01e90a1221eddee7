"""bundle's S3 adapter against hand-written fake clients: requests, error translation, aborts."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError, ResponseStreamingError

from functions._shared.errors import TransientDependencyError
from functions.bundle.adapters import S3_MIN_PART_SIZE, S3BundleStore
from functions.bundle.core import ObjectUnavailableError, S3ObjectRef

REF = S3ObjectRef(bucket="landing", key="landed/a.json", etag="abc123")


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "test"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "Operation",
    )


class FakeBody:
    def __init__(self, chunks: list[bytes], error: Exception | None = None) -> None:
        self._chunks = chunks
        self._error = error
        self.closed = False
        self.chunk_sizes: list[int] = []

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        self.chunk_sizes.append(chunk_size)
        yield from self._chunks
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        self.closed = True


class FakeS3:
    """Records calls; ``failures`` maps an operation to the error it raises (for part n: n)."""

    def __init__(self, failures: dict[Any, Exception] | None = None) -> None:
        self.failures = failures or {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.body = FakeBody([b'{"a":1}\n'])
        self._lock = threading.Lock()

    def _call(self, operation: str, request: dict[str, Any], key: Any = None) -> None:
        with self._lock:
            self.calls.append((operation, request))
        failure = self.failures.get(key if key is not None else operation)
        if failure is not None:
            raise failure

    def get_object(self, **request: Any) -> dict[str, Any]:
        self._call("get_object", request)
        return {"Body": self.body, "ContentEncoding": "gzip"}

    def create_multipart_upload(self, **request: Any) -> dict[str, Any]:
        self._call("create_multipart_upload", request)
        return {"UploadId": "upload-1"}

    def upload_part(self, **request: Any) -> dict[str, Any]:
        self._call("upload_part", request, key=request["PartNumber"])
        return {"ETag": f'"etag-{request["PartNumber"]}"'}

    def complete_multipart_upload(self, **request: Any) -> dict[str, Any]:
        self._call("complete_multipart_upload", request)
        return {}

    def abort_multipart_upload(self, **request: Any) -> dict[str, Any]:
        self._call("abort_multipart_upload", request)
        return {}

    def operations(self) -> list[str]:
        return [operation for operation, _ in self.calls]


def test_an_object_is_read_only_while_its_etag_is_the_announced_one() -> None:
    client = FakeS3()
    store = S3BundleStore("staging", client=client)

    stored = store.open(REF)
    chunks = list(stored.chunks())
    stored.close()

    [(_, request)] = client.calls
    assert request == {"Bucket": "landing", "Key": "landed/a.json", "IfMatch": "abc123"}
    assert chunks == [b'{"a":1}\n']
    assert stored.content_encoding == "gzip"
    assert client.body.chunk_sizes == [64 * 1024]
    assert client.body.closed


def test_an_object_without_an_etag_is_read_unconditionally() -> None:
    client = FakeS3()

    S3BundleStore("staging", client=client).open(S3ObjectRef(bucket="landing", key="k"))

    assert "IfMatch" not in client.calls[0][1]


@pytest.mark.parametrize(
    ("code", "status", "reason"),
    [
        ("NoSuchKey", 404, "no longer exists"),
        ("PreconditionFailed", 412, "overwritten"),
    ],
)
def test_a_vanished_or_overwritten_object_is_unavailable_not_an_error(
    code: str, status: int, reason: str
) -> None:
    store = S3BundleStore("staging", client=FakeS3({"get_object": client_error(code, status)}))

    with pytest.raises(ObjectUnavailableError, match=reason):
        store.open(REF)


@pytest.mark.parametrize(
    ("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("RequestTimeout", 400)]
)
def test_throttling_and_server_errors_are_transient(code: str, status: int) -> None:
    store = S3BundleStore("staging", client=FakeS3({"get_object": client_error(code, status)}))

    with pytest.raises(TransientDependencyError, match=code):
        store.open(REF)


def test_access_denied_is_neither_transient_nor_a_rejection() -> None:
    store = S3BundleStore("staging", client=FakeS3({"get_object": client_error("AccessDenied")}))

    with pytest.raises(ClientError):
        store.open(REF)


@pytest.mark.parametrize(
    "error",
    [
        ResponseStreamingError(error="connection reset"),
        ReadTimeoutError(endpoint_url="https://s3"),
    ],
)
def test_a_stream_broken_half_way_is_transient(error: Exception) -> None:
    client = FakeS3()
    client.body = FakeBody([b'{"a":1}\n'], error=error)
    stored = S3BundleStore("staging", client=client).open(REF)

    with pytest.raises(TransientDependencyError):
        list(stored.chunks())


def test_parts_are_uploaded_and_completed_in_order() -> None:
    client = FakeS3()
    store = S3BundleStore("staging", client=client)

    upload = store.start("staging/trk-1/x.ndjson.gz")
    for number in (1, 2, 3):
        upload.upload_part(number, bytes([number]) * 10)
    upload.complete()

    start = client.calls[0][1]
    assert start == {
        "Bucket": "staging",
        "Key": "staging/trk-1/x.ndjson.gz",
        "ContentType": "application/x-ndjson",
        "ContentEncoding": "gzip",
    }
    parts = {
        request["PartNumber"]: request["Body"]
        for operation, request in client.calls
        if operation == "upload_part"
    }
    assert parts == {1: b"\x01" * 10, 2: b"\x02" * 10, 3: b"\x03" * 10}
    operation, completion = client.calls[-1]
    assert operation == "complete_multipart_upload"
    assert completion["UploadId"] == "upload-1"
    assert completion["MultipartUpload"] == {
        "Parts": [{"PartNumber": n, "ETag": f'"etag-{n}"'} for n in (1, 2, 3)]
    }


def test_a_failed_part_surfaces_and_abort_discards_the_upload() -> None:
    client = FakeS3({2: client_error("SlowDown", 503)})
    upload = S3BundleStore("staging", client=client, parts_in_flight=1).start("k")

    def send_all() -> None:
        for number in (1, 2, 3, 4):
            upload.upload_part(number, b"x")
        upload.complete()

    with pytest.raises(TransientDependencyError):
        send_all()
    upload.abort()

    assert "complete_multipart_upload" not in client.operations()
    assert client.operations()[-1] == "abort_multipart_upload"
    assert client.calls[-1][1] == {"Bucket": "staging", "Key": "k", "UploadId": "upload-1"}


def test_a_failed_abort_does_not_hide_the_original_error() -> None:
    client = FakeS3({"abort_multipart_upload": client_error("InternalError", 500)})
    upload = S3BundleStore("staging", client=client).start("k")

    upload.abort()  # logs, does not raise

    assert client.operations() == ["create_multipart_upload", "abort_multipart_upload"]


def test_parts_smaller_than_s3_allows_are_refused_up_front() -> None:
    with pytest.raises(ValueError, match="at least"):
        S3BundleStore("staging", client=FakeS3(), part_size=S3_MIN_PART_SIZE - 1)
