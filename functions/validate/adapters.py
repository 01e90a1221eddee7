"""The S3 side of validate: reading back a batch that claim_check stored."""

from __future__ import annotations

from typing import Any, Final

from botocore.exceptions import ClientError

from functions._shared.aws_errors import error_code, s3_errors_translated
from functions._shared.batch_pointer import BatchPointer
from functions._shared.clients import STANDARD_RETRIES, LazyClient
from functions._shared.errors import InvalidEnvelopeError
from functions._shared.parsing import JsonTextError, loads_json

_MISSING_CODES: Final = frozenset({"404", "NoSuchKey", "NotFound"})


class S3BatchReader:
    """Reads the records a :class:`BatchPointer` stands for, from the one bucket it may name.

    ``client`` is a boto3 S3 client; by default one is made on first use, so that importing the
    handler opens no connection and tests can inject their own. A pointer to another bucket, a
    batch that is gone (the staging bucket expires objects) or not what the pointer describes
    is an :class:`InvalidEnvelopeError`: a retry cannot make it readable.

    Example::

        reader = S3BatchReader("stepflow-dev-staging-123456789012-us-east-1")
        records = reader.read(pointer)  # the JSON array of SQS records claim_check stored
    """

    client = LazyClient("s3", {"retries": STANDARD_RETRIES})

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client

    def read(self, pointer: BatchPointer) -> list[Any]:
        where = f"s3://{pointer.bucket}/{pointer.key}"
        if pointer.bucket != self.bucket:
            raise InvalidEnvelopeError(
                f"the batch pointer names {where}; batches are read from {self.bucket} only"
            )
        with s3_errors_translated(f"read of {where}"):
            try:
                body: bytes = self.client.get_object(Bucket=pointer.bucket, Key=pointer.key)[
                    "Body"
                ].read()
            except ClientError as error:
                if error_code(error) in _MISSING_CODES:
                    raise InvalidEnvelopeError(f"the stored batch {where} is gone") from None
                raise
        if len(body) != pointer.bytes:
            raise InvalidEnvelopeError(
                f"the stored batch {where} is {len(body)} bytes; its pointer says {pointer.bytes}"
            )
        try:
            records = loads_json(body.decode("utf-8"))
        except (UnicodeDecodeError, JsonTextError) as error:
            raise InvalidEnvelopeError(f"the stored batch {where} is not JSON: {error}") from None
        if not isinstance(records, list) or len(records) != pointer.records:
            raise InvalidEnvelopeError(
                f"the stored batch {where} is not the array of {pointer.records} records its "
                "pointer describes"
            )
        return records
