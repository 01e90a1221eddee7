"""Patch 12: S3 event notifications carry the whole record S3 sends.

That is ``userIdentity``, ``requestParameters``, ``responseElements``, the bucket's
``ownerIdentity``, the object's ``sequencer`` and ``versionId``; object keys are URL-encoded as
S3 encodes them (``/`` kept, a space as ``+``). moto delivers them to SQS in server mode already.
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from typing import Any
from urllib.parse import quote_plus

from local.moto_patches.patch_context import moto_module

_LOCAL_PRINCIPAL = "AWS:AIDALOCALSTEPFLOW0000"
_sequencer_lock = threading.Lock()
_last_sequencer = 0


def _next_sequencer() -> str:
    """Increasing hex strings, as S3's ``sequencer`` orders events of one key."""
    global _last_sequencer  # noqa: PLW0603 - one sequence per process, like one S3 endpoint
    with _sequencer_lock:
        _last_sequencer = max(_last_sequencer + 1, time.time_ns())
        return f"{_last_sequencer:018X}"


def complete_s3_record(
    record: dict[str, Any], key_name: str, version_id: str | None = None
) -> dict[str, Any]:
    """``record`` (moto's S3 event record) with every field S3 puts in one, in S3's order."""
    s3 = dict(record.get("s3") or {})
    bucket = dict(s3.get("bucket") or {})
    obj = dict(s3.get("object") or {})
    obj["key"] = quote_plus(key_name, safe="/")
    if version_id:
        obj["versionId"] = version_id
    obj.setdefault("sequencer", _next_sequencer())
    return {
        "eventVersion": record.get("eventVersion", "2.1"),
        "eventSource": record.get("eventSource", "aws:s3"),
        "awsRegion": record.get("awsRegion"),
        "eventTime": record.get("eventTime"),
        "eventName": record.get("eventName"),
        "userIdentity": {"principalId": _LOCAL_PRINCIPAL},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-amz-id-2": base64.b64encode(uuid.uuid4().bytes * 2).decode(),
        },
        "s3": {
            "s3SchemaVersion": s3.get("s3SchemaVersion", "1.0"),
            "configurationId": s3.get("configurationId"),
            "bucket": {
                "name": bucket.get("name"),
                "ownerIdentity": {"principalId": _LOCAL_PRINCIPAL.removeprefix("AWS:")},
                "arn": bucket.get("arn"),
            },
            "object": obj,
        },
    }


def patch_s3_event_records() -> None:
    notifications = moto_module("moto.s3.notifications")
    original = notifications._get_s3_event

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        event = original(event_name, bucket, key, notification_id)
        versioned = bool(getattr(bucket, "is_versioned", False))
        version_id = str(key.version_id) if versioned and getattr(key, "version_id", None) else None
        event["Records"] = [
            complete_s3_record(record, str(key.name), version_id) for record in event["Records"]
        ]
        return event

    notifications._get_s3_event = get_s3_event
