"""Rejected inputs kept verbatim where an operator can read them and resubmit them.

Every input the workflows reject after a producer handed it over (an SQS message, an event the
API accepted into an execution, a landed object) is written to the quarantine bucket as one
object: the original bytes as its body, the reason and where it came from as its metadata.

Key: ``quarantine/<source>/<yyyy>/<mm>/<dd>/<id>``; ``id`` is derived from the input (the SQS
message id, the tracking id and index, the landed object's key and ETag), so a retried step
writes the same object again instead of a second copy. The bucket has no expiry: a rejected input
is kept until an operator resolves it (``functions/operations/quarantine.py`` lists, shows and
resubmits; a resubmission leaves a marker under ``resubmitted/`` beside it).

S3 metadata is ASCII and at most 2 KB per object, so reasons are JSON-escaped and bounded; the
full reasons are in the status record named by ``tracking-id``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from functions._shared.aws_errors import s3_errors_translated
from functions._shared.clients import STANDARD_RETRIES, LazyClient

QUARANTINE_PREFIX: Final = "quarantine/"
RESUBMITTED_PREFIX: Final = "resubmitted/"
QUARANTINE_KEY_FIELD: Final = "quarantineKey"
"""The key a rejection entry names its quarantined input by."""

# Metadata names as S3 answers them (lower case, without ``x-amz-meta-``).
SOURCE_META: Final = "source"
REASON_META: Final = "reason"
TRACKING_ID_META: Final = "tracking-id"
MESSAGE_ID_META: Final = "message-id"
ORIGIN_META: Final = "origin"
"""Where the input came in: the source queue's ARN, or ``s3://bucket/key`` of a landed object."""
LEFT_OUT_LINES_META: Final = "left-out-lines"
"""A landed object whose other lines were bundled: the numbers (from 1) of the lines left out,
comma-separated; ``left-out-total`` says how many there were (more than listed, at times)."""
LEFT_OUT_TOTAL_META: Final = "left-out-total"

# Under S3's 2 KB of user metadata with the other fields and their names.
MAX_REASON_META_CHARS: Final = 900
MAX_ID_META_CHARS: Final = 256
# Enough of the reasons to act on; the status record holds them all.
_REASONS_LISTED: Final = 10
_CLIENT_CONFIG: Final = {"retries": STANDARD_RETRIES}


class QuarantineSource(StrEnum):
    """The door an input came through, which is also the door it is resubmitted through."""

    QUEUE = "queue"
    """An SQS message of a Pipes batch (the ingest queue or the landing notifications)."""
    API = "api"
    """One event of an execution the API started; resubmitted as a message to the ingest queue."""
    LANDING = "landing"
    """A landed object, or the lines of it that were left out of its bundle."""


@dataclass(frozen=True)
class RejectedInput:
    """One rejected input: its bytes verbatim, why it was rejected and where it came from."""

    source: QuarantineSource
    input_id: str
    body: bytes
    reason: str
    tracking_id: str
    message_id: str | None = None
    origin: str | None = None
    left_out_lines: tuple[int, ...] = ()
    """Only these lines of ``body`` were rejected (the others were delivered); empty: all."""
    left_out_total: int = 0


def rejection_reason(rejections: Sequence[Mapping[str, Any]]) -> str:
    """The reasons of ``rejections`` in one line, each as ``events.<index>.<field>: <reason>``.

    >>> rejection_reason([{"index": 2, "errors": [{"field": "$", "reason": "is not JSON"}]}])
    'events.2: is not JSON'
    """
    parts: list[str] = []
    for rejection in rejections:
        for error in rejection.get("errors", []):
            field = str(error.get("field", "$"))
            where = f"events.{rejection.get('index')}" + ("" if field == "$" else f".{field}")
            parts.append(f"{where}: {error.get('reason', '')}")
    listed = "; ".join(parts[:_REASONS_LISTED])
    more = len(parts) - _REASONS_LISTED
    return listed + (f"; and {more} more" if more > 0 else "")


def quarantine_key(source: QuarantineSource, input_id: str, at: datetime) -> str:
    """Where ``input_id`` rejected at ``at`` is kept; the id is hashed when it is not key-safe.

    >>> from datetime import UTC
    >>> quarantine_key(QuarantineSource.QUEUE, "m-1", datetime(2024, 3, 9, tzinfo=UTC))
    'quarantine/queue/2024/03/09/m-1'
    >>> quarantine_key(QuarantineSource.LANDING, "s3://l/a b#e", datetime(2024, 3, 9, tzinfo=UTC))
    'quarantine/landing/2024/03/09/25d4221b8321649c6b8134b4d3efc157'
    """
    safe = input_id if _key_safe(input_id) else hashlib.sha256(input_id.encode()).hexdigest()[:32]
    return f"{QUARANTINE_PREFIX}{source.value}/{at:%Y/%m/%d}/{safe}"


def resubmitted_marker_key(key: str) -> str:
    """The marker that says ``key`` was resubmitted.

    >>> resubmitted_marker_key("quarantine/queue/2024/03/09/m-1")
    'resubmitted/quarantine/queue/2024/03/09/m-1'
    """
    return RESUBMITTED_PREFIX + key


def metadata_of(item: RejectedInput) -> dict[str, str]:
    """The object metadata of ``item``: ASCII (non-ASCII JSON-escaped) and bounded.

    >>> metadata_of(RejectedInput(QuarantineSource.API, "t-0", b"{}", "naïve", "t"))["reason"]
    'na\\\\u00efve'
    """
    metadata = {
        SOURCE_META: item.source.value,
        REASON_META: _ascii(item.reason, MAX_REASON_META_CHARS),
        TRACKING_ID_META: _ascii(item.tracking_id, MAX_ID_META_CHARS),
    }
    if item.message_id is not None:
        metadata[MESSAGE_ID_META] = _ascii(item.message_id, MAX_ID_META_CHARS)
    if item.origin is not None:
        metadata[ORIGIN_META] = _ascii(item.origin, MAX_ID_META_CHARS)
    if item.left_out_lines:
        metadata[LEFT_OUT_LINES_META] = ",".join(str(number) for number in item.left_out_lines)
        metadata[LEFT_OUT_TOTAL_META] = str(max(item.left_out_total, len(item.left_out_lines)))
    return metadata


def decoded_metadata(value: str) -> str:
    """The text :func:`metadata_of` escaped.

    >>> decoded_metadata('na\\\\u00efve')
    'naïve'
    """
    try:
        decoded = json.loads(f'"{value}"')
    except ValueError:
        return value
    return decoded if isinstance(decoded, str) else value


def _ascii(text: str, limit: int) -> str:
    escaped = json.dumps(text)[1:-1]
    return escaped if len(escaped) <= limit else escaped[: limit - 3] + "..."


def _key_safe(input_id: str) -> bool:
    return 0 < len(input_id) <= 128 and all(
        character.isascii() and (character.isalnum() or character in "-_.")
        for character in input_id
    )


class QuarantineBucket:
    """Writes rejected inputs to the quarantine bucket (``client``: a boto3 S3 client, made on
    first use when not given). A write that fails fails the step (transient failures as a
    ``TransientDependencyError``, which the workflow retries): a rejection is never reported
    without its bytes kept.

    Example::

        bucket = QuarantineBucket("stepflow-dev-quarantine-123456789012-us-east-1")
        key = bucket.keep(RejectedInput(QuarantineSource.QUEUE, "m-1", body, reason, "sqs-1"), now)
    """

    client = LazyClient("s3", _CLIENT_CONFIG)

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client

    def keep(self, item: RejectedInput, at: datetime) -> str:
        key = quarantine_key(item.source, item.input_id, at)
        with s3_errors_translated(f"quarantine of {item.input_id} to s3://{self.bucket}/{key}"):
            self.client.put_object(
                Bucket=self.bucket, Key=key, Body=item.body, Metadata=metadata_of(item)
            )
        return key

    def keep_copy(self, item: RejectedInput, bucket: str, key: str, etag: str, at: datetime) -> str:
        """Keep the object ``bucket/key`` (only while its ETag is ``etag``) as ``item``'s body."""
        target = quarantine_key(item.source, item.input_id, at)
        with s3_errors_translated(f"quarantine of s3://{bucket}/{key} to s3://{self.bucket}"):
            # CopySourceIfMatch closes the race on S3; the HEAD makes emulators that ignore it
            # (moto) refuse a replaced object too.
            self.client.head_object(Bucket=bucket, Key=key, IfMatch=f'"{etag}"')
            self.client.copy_object(
                Bucket=self.bucket,
                Key=target,
                CopySource={"Bucket": bucket, "Key": key},
                CopySourceIfMatch=f'"{etag}"',
                Metadata=metadata_of(item),
                MetadataDirective="REPLACE",
            )
        return target
