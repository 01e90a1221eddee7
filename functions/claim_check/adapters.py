"""The S3 side of claim_check: one encrypted ``PutObject`` per stored batch."""

from __future__ import annotations

from typing import Any, Final

from functions._shared.aws_errors import s3_errors_translated
from functions._shared.clients import STANDARD_RETRIES, LazyClient

BATCH_CONTENT_TYPE: Final = "application/json"


class S3BatchStore:
    """:class:`~functions.claim_check.core.BatchStore` on the staging bucket.

    ``client`` is a boto3 S3 client; by default one is made on first use, so that importing the
    handler opens no connection and tests can inject their own. Batches are encrypted with SSE-S3,
    as bundles are.

    Example::

        S3BatchStore("stepflow-dev-staging-123456789012-us-east-1").put("batches/ab.json", b"[]")
    """

    client = LazyClient("s3", {"retries": STANDARD_RETRIES})

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self._bucket = bucket
        self._client = client

    @property
    def bucket(self) -> str:
        return self._bucket

    def put(self, key: str, body: bytes) -> None:
        with s3_errors_translated(f"write of s3://{self._bucket}/{key}"):
            self.client.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=body,
                ContentType=BATCH_CONTENT_TYPE,
                ServerSideEncryption="AES256",
            )
