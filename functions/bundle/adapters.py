"""The S3 side of bundle: landed objects read in 64 KiB chunks, the bundle written by multipart."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final

from botocore.exceptions import ClientError

from functions._shared.aws_errors import error_code, s3_errors_translated
from functions._shared.clients import STANDARD_RETRIES, LazyClient
from functions.bundle.core import (
    DEFAULT_PART_SIZE,
    READ_SIZE,
    ObjectUnavailableError,
    S3ObjectRef,
)

logger = logging.getLogger(__name__)

S3_MIN_PART_SIZE: Final = 5 * 1024 * 1024
BUNDLE_CONTENT_TYPE: Final = "application/x-ndjson"

_MISSING_CODES: Final = frozenset({"NoSuchKey", "404", "NotFound"})
_PRECONDITION_CODES: Final = frozenset({"PreconditionFailed", "412"})
# Uploading part n while part n+1 is compressed hides the network behind the CPU; more parts in
# flight would only hold more memory (each is DEFAULT_PART_SIZE bytes).
_PARTS_IN_FLIGHT: Final = 2


class S3StoredObject:
    """A ``GetObject`` response whose body is read in ``read_size`` chunks, never whole."""

    def __init__(self, response: dict[str, Any], action: str, read_size: int) -> None:
        self._body = response["Body"]
        self.content_encoding: str | None = response.get("ContentEncoding")
        self._action = action
        self._read_size = read_size

    def chunks(self) -> Iterator[bytes]:
        with s3_errors_translated(self._action):
            yield from self._body.iter_chunks(self._read_size)

    def close(self) -> None:
        self._body.close()


class S3MultipartUpload:
    """One multipart upload with up to two parts in flight on background threads.

    Any part's failure surfaces at the next :meth:`upload_part` or at :meth:`complete`.
    :meth:`abort` waits for the parts in flight first, so none lands after the abort.
    """

    def __init__(
        self, client: Any, bucket: str, key: str, upload_id: str, parts_in_flight: int
    ) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key
        self.upload_id = upload_id
        self._parts_in_flight = parts_in_flight
        self._executor = ThreadPoolExecutor(
            max_workers=parts_in_flight, thread_name_prefix="bundle-part"
        )
        self._pending: deque[Future[tuple[int, str]]] = deque()
        self._etags: dict[int, str] = {}

    def upload_part(self, number: int, data: bytes) -> None:
        while len(self._pending) >= self._parts_in_flight:
            self._collect_oldest()
        self._pending.append(self._executor.submit(self._send, number, data))

    def complete(self) -> None:
        while self._pending:
            self._collect_oldest()
        self._executor.shutdown(wait=True)
        parts = [{"PartNumber": n, "ETag": self._etags[n]} for n in sorted(self._etags)]
        with s3_errors_translated(f"completion of s3://{self.bucket}/{self.key}"):
            self._client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                MultipartUpload={"Parts": parts},
            )

    def abort(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        try:
            self._client.abort_multipart_upload(
                Bucket=self.bucket, Key=self.key, UploadId=self.upload_id
            )
        except Exception:
            # The staging bucket's lifecycle rule drops incomplete uploads after a few days;
            # the error that made us abort is the one to report.
            logger.warning(
                "Could not abort multipart upload %s of s3://%s/%s",
                self.upload_id,
                self.bucket,
                self.key,
                exc_info=True,
            )

    def _collect_oldest(self) -> None:
        number, etag = self._pending.popleft().result()
        self._etags[number] = etag

    def _send(self, number: int, data: bytes) -> tuple[int, str]:
        with s3_errors_translated(f"upload of part {number} of s3://{self.bucket}/{self.key}"):
            response = self._client.upload_part(
                Bucket=self.bucket,
                Key=self.key,
                UploadId=self.upload_id,
                PartNumber=number,
                Body=data,
            )
        return number, str(response["ETag"])


class S3BundleStore:
    """Both ports of :func:`~functions.bundle.core.bundle_envelope` on one S3 client.

    :class:`~functions.bundle.core.ObjectSource`: landed objects, read only while their ETag
    is still the announced one. :class:`~functions.bundle.core.Staging`: multipart uploads into
    ``staging_bucket``. ``client`` is a boto3 S3 client; by default one is created on first
    use, so that importing the handler opens no connection and tests can inject their own.

    Example::

        store = S3BundleStore("stepflow-dev-staging")
        bundle_envelope(envelope, store, store, landing_bucket="stepflow-dev-landing")
    """

    client = LazyClient("s3", {"retries": STANDARD_RETRIES})

    def __init__(
        self,
        staging_bucket: str,
        client: Any | None = None,
        *,
        part_size: int = DEFAULT_PART_SIZE,
        read_size: int = READ_SIZE,
        parts_in_flight: int = _PARTS_IN_FLIGHT,
    ) -> None:
        if part_size < S3_MIN_PART_SIZE:
            raise ValueError(f"S3 parts but the last must be at least {S3_MIN_PART_SIZE} bytes")
        self.bucket = staging_bucket
        self.part_size = part_size
        self._client = client
        self._read_size = read_size
        self._parts_in_flight = parts_in_flight

    def open(self, ref: S3ObjectRef) -> S3StoredObject:
        action = f"read of s3://{ref.bucket}/{ref.key}"
        request: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.etag:
            # A key overwritten since its notification is a new object with a notification of
            # its own; reading the new bytes under the old ETag would bundle them twice.
            request["IfMatch"] = ref.etag
        with s3_errors_translated(action):
            try:
                response = self.client.get_object(**request)
            except ClientError as error:
                code = error_code(error)
                if code in _MISSING_CODES:
                    raise ObjectUnavailableError(f"the object no longer exists ({code})") from error
                if code in _PRECONDITION_CODES:
                    raise ObjectUnavailableError(
                        f"the object was overwritten after it landed (ETag is no longer "
                        f"{ref.etag}); its new version is announced on its own"
                    ) from error
                raise
        return S3StoredObject(response, action, self._read_size)

    def start(self, key: str) -> S3MultipartUpload:
        with s3_errors_translated(f"start of a multipart upload to s3://{self.bucket}/{key}"):
            response = self.client.create_multipart_upload(
                Bucket=self.bucket,
                Key=key,
                ContentType=BUNDLE_CONTENT_TYPE,
                ContentEncoding="gzip",
            )
        return S3MultipartUpload(
            self.client, self.bucket, key, str(response["UploadId"]), self._parts_in_flight
        )
