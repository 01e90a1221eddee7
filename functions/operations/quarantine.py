"""The operator's side of the quarantine: list rejected inputs, show one, resubmit one.

Pure logic over injected boto3 clients (``s3``, ``sqs``), so the local CLI
(``python -m local rejected``) and an operations API call the same functions. The layout is
``functions/_shared/quarantine.py``'s. A resubmission goes back through the input's own door:

- a queue message (``queue``) is sent again to the queue it came from (its ``origin`` ARN), as
  a new message with the same body;
- an event of an API execution (``api``) is sent to the ingest queue, which judges it exactly as
  the API does;
- a landed object (``landing``) is put into the landing bucket again under a new key
  (``resubmitted/<time>/<original key>``); when only some of its lines were rejected (the
  others were delivered), only those lines are put, so nothing is delivered twice.

``body`` replaces the kept bytes with corrected ones. Before anything is sent, a marker is
written under ``resubmitted/`` with ``If-None-Match: *``, so of two resubmissions of one item
exactly one goes through; the other gets :class:`AlreadyResubmittedError`. A send that fails
removes the marker again.

Example::

    items = list_rejected(s3, "stepflow-dev-quarantine-123456789012-us-east-1")
    item, body = show_rejected(s3, bucket, items[0].key)
    resubmit(s3, sqs, bucket, items[0].key, Doors(ingest_queue_url=url, landing_bucket=landing))
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from botocore.exceptions import ClientError

from functions._shared.quarantine import (
    LEFT_OUT_LINES_META,
    LEFT_OUT_TOTAL_META,
    MESSAGE_ID_META,
    ORIGIN_META,
    QUARANTINE_PREFIX,
    REASON_META,
    SOURCE_META,
    TRACKING_ID_META,
    QuarantineSource,
    decoded_metadata,
    resubmitted_marker_key,
)

LANDING_RESUBMIT_PREFIX: Final = "resubmitted/"
_S3_ORIGIN: Final = "s3://"
_PRECONDITION_FAILED: Final = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
_MISSING: Final = frozenset({"NoSuchKey", "404", "NotFound"})


class QuarantineError(Exception):
    """An operator's request that cannot be carried out; the message says why."""


class AlreadyResubmittedError(QuarantineError):
    """The item was resubmitted before (the marker says when and where to)."""


@dataclass(frozen=True)
class Doors:
    """Where resubmitted inputs go in: the ingest queue's URL and the landing bucket's name."""

    ingest_queue_url: str
    landing_bucket: str


@dataclass(frozen=True)
class RejectedItem:
    """One quarantined input as an operator sees it."""

    key: str
    source: str
    reason: str
    tracking_id: str
    size: int
    kept_at: datetime
    message_id: str | None = None
    origin: str | None = None
    left_out_lines: tuple[int, ...] = ()
    left_out_total: int = 0
    resubmitted: dict[str, Any] | None = None
    """The marker of an earlier resubmission (``at``, ``to``), or ``None``."""

    def to_json(self) -> dict[str, Any]:
        """The item as JSON, for ``--json`` and an API."""
        answer: dict[str, Any] = {
            "key": self.key,
            "source": self.source,
            "reason": self.reason,
            "trackingId": self.tracking_id,
            "size": self.size,
            "keptAt": self.kept_at.isoformat(),
            "resubmitted": self.resubmitted,
        }
        if self.message_id is not None:
            answer["messageId"] = self.message_id
        if self.origin is not None:
            answer["origin"] = self.origin
        if self.left_out_lines:
            answer["leftOutLines"] = list(self.left_out_lines)
            answer["leftOutTotal"] = self.left_out_total
        return answer


@dataclass(frozen=True)
class Resubmission:
    """What a resubmission did: the item, and where its input went (a queue URL and the new
    message id, or ``s3://landing/<new key>``)."""

    key: str
    to: str
    reference: str


def list_rejected(
    s3: Any, bucket: str, *, source: str | None = None, limit: int = 1000
) -> list[RejectedItem]:
    """The quarantined inputs (of ``source`` only, when given), oldest first, at most ``limit``.

    Example::

        [item.reason for item in list_rejected(s3, bucket, source="queue")]
    """
    prefix = QUARANTINE_PREFIX + (f"{QuarantineSource(source).value}/" if source else "")
    items: list[RejectedItem] = []
    for summary in _objects(s3, bucket, prefix):
        if len(items) >= limit:
            break
        items.append(
            _item(s3, bucket, summary["Key"], s3.head_object(Bucket=bucket, Key=summary["Key"]))
        )
    return sorted(items, key=lambda item: (item.kept_at, item.key))


def show_rejected(s3: Any, bucket: str, key: str) -> tuple[RejectedItem, bytes]:
    """One quarantined input and its bytes, exactly as they were rejected."""
    _check_key(key)
    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _code(error) in _MISSING:
            raise QuarantineError(f"nothing is kept under {key}") from None
        raise
    body: bytes = answer["Body"].read()
    return _item(s3, bucket, key, answer), body


def resubmit(
    s3: Any, sqs: Any, bucket: str, key: str, doors: Doors, *, body: bytes | None = None
) -> Resubmission:
    """Send the input kept under ``key`` (or ``body``, corrected) through its door, once.

    Raises :class:`AlreadyResubmittedError` when it was resubmitted before, and
    :class:`QuarantineError` when it cannot be (lines left out that were not all listed, and
    no corrected ``body``).
    """
    item, kept = show_rejected(s3, bucket, key)
    if item.resubmitted is not None:
        raise AlreadyResubmittedError(_already(key, item.resubmitted))
    payload = body if body is not None else _what_to_resubmit(item, kept)
    to = _door(item, doors)
    marker = resubmitted_marker_key(key)
    claimed_at = datetime.now(UTC)
    try:
        s3.put_object(
            Bucket=bucket,
            Key=marker,
            Body=json.dumps({"at": claimed_at.isoformat(), "to": to}).encode(),
            IfNoneMatch="*",
        )
    except ClientError as error:
        if _code(error) in _PRECONDITION_FAILED:
            raise AlreadyResubmittedError(_already(key, _marker(s3, bucket, key) or {})) from None
        raise
    try:
        reference = (
            _put_landed(s3, item, to.removeprefix(_S3_ORIGIN), payload, claimed_at)
            if to.startswith(_S3_ORIGIN)
            else _send_message(sqs, item, to, payload)
        )
    except BaseException:
        # Nothing went through: the item may be resubmitted again.
        s3.delete_object(Bucket=bucket, Key=marker)
        raise
    return Resubmission(key=key, to=to, reference=reference)


def _what_to_resubmit(item: RejectedItem, kept: bytes) -> bytes:
    if not item.left_out_lines:
        return kept
    if item.left_out_total > len(item.left_out_lines):
        raise QuarantineError(
            f"{item.key}: {item.left_out_total} lines were left out but only "
            f"{len(item.left_out_lines)} are listed; resubmit the corrected lines as a body"
        )
    return left_out_lines(kept, item.left_out_lines)


def left_out_lines(body: bytes, numbers: tuple[int, ...]) -> bytes:
    """The lines ``numbers`` (from 1) of ``body``, each ending in a newline, in order.

    >>> left_out_lines(b'{"a":1}\\nbad\\n{"b":2}\\n[3]', (2, 4))
    b'bad\\n[3]\\n'
    """
    wanted = set(numbers)
    lines = body.split(b"\n")
    return b"".join(line + b"\n" for number, line in enumerate(lines, 1) if number in wanted)


def _door(item: RejectedItem, doors: Doors) -> str:
    if item.source == QuarantineSource.LANDING:
        return f"{_S3_ORIGIN}{doors.landing_bucket}"
    if item.source == QuarantineSource.QUEUE and item.origin and item.origin.startswith("arn:"):
        return item.origin
    return doors.ingest_queue_url


def _put_landed(s3: Any, item: RejectedItem, landing: str, payload: bytes, at: datetime) -> str:
    original = (item.origin or item.key).removeprefix(_S3_ORIGIN).split("/", 1)[-1]
    new_key = f"{LANDING_RESUBMIT_PREFIX}{at:%Y%m%dT%H%M%S%fZ}/{original}"
    s3.put_object(Bucket=landing, Key=new_key, Body=payload)
    return f"{_S3_ORIGIN}{landing}/{new_key}"


def _send_message(sqs: Any, item: RejectedItem, to: str, payload: bytes) -> str:
    # A queue's ARN ends in its name; the ingest queue is given by URL.
    queue_url = (
        sqs.get_queue_url(QueueName=to.rsplit(":", 1)[-1])["QueueUrl"]
        if to.startswith("arn:")
        else to
    )
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as error:
        raise QuarantineError(f"{item.key}: a queue message must be UTF-8 text: {error}") from None
    answer = sqs.send_message(QueueUrl=queue_url, MessageBody=text)
    return f"{queue_url} message {answer['MessageId']}"


def _item(s3: Any, bucket: str, key: str, head: dict[str, Any]) -> RejectedItem:
    metadata = {name.lower(): value for name, value in head.get("Metadata", {}).items()}
    lines = metadata.get(LEFT_OUT_LINES_META, "")
    numbers = tuple(int(part) for part in lines.split(",") if part.isdigit())
    total = metadata.get(LEFT_OUT_TOTAL_META, "")
    return RejectedItem(
        key=key,
        source=metadata.get(SOURCE_META, key.removeprefix(QUARANTINE_PREFIX).split("/", 1)[0]),
        reason=decoded_metadata(metadata.get(REASON_META, "")),
        tracking_id=decoded_metadata(metadata.get(TRACKING_ID_META, "")),
        size=int(head.get("ContentLength", 0)),
        kept_at=head["LastModified"],
        message_id=_optional(metadata.get(MESSAGE_ID_META)),
        origin=_optional(metadata.get(ORIGIN_META)),
        left_out_lines=numbers,
        left_out_total=int(total) if total.isdigit() else len(numbers),
        resubmitted=_marker(s3, bucket, key),
    )


def _marker(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        answer = s3.get_object(Bucket=bucket, Key=resubmitted_marker_key(key))
    except ClientError as error:
        if _code(error) in _MISSING:
            return None
        raise
    try:
        marker = json.loads(answer["Body"].read())
    except ValueError:
        marker = {}
    return marker if isinstance(marker, dict) else {}


def _objects(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _check_key(key: str) -> None:
    if not key.startswith(QUARANTINE_PREFIX):
        raise QuarantineError(
            f"{key} is not a quarantine key (they start with {QUARANTINE_PREFIX})"
        )


def _already(key: str, marker: dict[str, Any]) -> str:
    return f"{key} was already resubmitted at {marker.get('at', '?')} to {marker.get('to', '?')}"


def _optional(value: str | None) -> str | None:
    return decoded_metadata(value) if value else None


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
