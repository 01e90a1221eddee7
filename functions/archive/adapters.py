"""The S3 side of archive: ``HeadObject`` and a server-side copy, encrypted, with metadata."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from botocore.exceptions import ClientError

from functions._shared import aws_errors
from functions._shared.aws_errors import error_code
from functions._shared.clients import STANDARD_RETRIES, LazyClient
from functions.archive.core import CopyRequest, ObjectHead

# CopyObject copies up to 5 GB in one request; above that only a multipart copy can.
COPY_OBJECT_LIMIT: Final = 5 * 1024**3
BUNDLE_CONTENT_TYPE: Final = "application/x-ndjson"

# A failed CopySourceIfMatch means the staged object changed between our HEAD and the copy,
# which a retry re-reads.
_ALSO_TRANSIENT: Final = frozenset({"PreconditionFailed"})
_MISSING_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})


@contextmanager
def s3_errors_translated(action: str) -> Iterator[None]:
    """Re-raise throttling, 5xx, connection failures and a changed source as
    :class:`~functions._shared.errors.TransientDependencyError`."""
    with aws_errors.s3_errors_translated(action, also_transient=_ALSO_TRANSIENT):
        yield


def encryption_arguments(kms_key_id: str | None) -> dict[str, Any]:
    """The SSE parameters of the copy: SSE-KMS with ``kms_key_id`` when set, else SSE-S3.

    A bucket key cuts KMS requests (and their cost) to about one per bucket and key per period
    instead of one per object.

    >>> encryption_arguments(None)
    {'ServerSideEncryption': 'AES256'}
    >>> kms = encryption_arguments("alias/archive")
    >>> kms["ServerSideEncryption"], kms["SSEKMSKeyId"], kms["BucketKeyEnabled"]
    ('aws:kms', 'alias/archive', True)
    """
    if kms_key_id:
        return {
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": kms_key_id,
            "BucketKeyEnabled": True,
        }
    return {"ServerSideEncryption": "AES256"}


class S3ArchiveStore:
    """:class:`~functions.archive.core.ArchiveStore` on S3; copies never pass through Lambda.

    ``client`` is a boto3 S3 client; by default one is created on first use, so that importing
    the handler opens no connection and tests can inject their own. Bundles of
    ``copy_object_limit`` bytes or more are copied by boto3's managed multipart copy.

    Example::

        store = S3ArchiveStore(kms_key_id="alias/stepflow-archive")
        store.head("stepflow-dev-archive", "bundles/ab/ab12....ndjson.gz")
    """

    client = LazyClient("s3", {"retries": STANDARD_RETRIES})

    def __init__(
        self,
        client: Any | None = None,
        *,
        kms_key_id: str | None = None,
        copy_object_limit: int = COPY_OBJECT_LIMIT,
    ) -> None:
        self._client = client
        self.kms_key_id = kms_key_id
        self.copy_object_limit = copy_object_limit

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        with s3_errors_translated(f"head of s3://{bucket}/{key}"):
            try:
                response = self.client.head_object(Bucket=bucket, Key=key)
            except ClientError as error:
                if error_code(error) in _MISSING_CODES:
                    return None
                raise
        return ObjectHead(
            size=int(response["ContentLength"]),
            etag=str(response["ETag"]),
            metadata={k.lower(): v for k, v in response.get("Metadata", {}).items()},
        )

    def copy(self, request: CopyRequest) -> None:
        source = {"Bucket": request.source_bucket, "Key": request.source_key}
        arguments: dict[str, Any] = {
            "CopySourceIfMatch": request.source_etag,
            "MetadataDirective": "REPLACE",
            "Metadata": dict(request.metadata),
            "ContentType": BUNDLE_CONTENT_TYPE,
            "ContentEncoding": "gzip",
            **encryption_arguments(self.kms_key_id),
        }
        action = (
            f"copy of s3://{request.source_bucket}/{request.source_key} "
            f"to s3://{request.bucket}/{request.key}"
        )
        with s3_errors_translated(action):
            if request.size < self.copy_object_limit:
                self.client.copy_object(
                    Bucket=request.bucket, Key=request.key, CopySource=source, **arguments
                )
            else:
                self.client.copy(source, request.bucket, request.key, ExtraArgs=arguments)
