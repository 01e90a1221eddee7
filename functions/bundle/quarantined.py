"""Which landed objects bundle rejected, as the inputs to keep in quarantine; no I/O.

An object rejected whole is kept whole. An object some of whose lines were left out is kept
whole too, with the numbers of those lines (``left_out_lines``): its other lines were delivered,
so a resubmission sends only the lines left out (``functions/operations/quarantine.py``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from functions._shared.quarantine import QuarantineSource, RejectedInput, rejection_reason
from functions.bundle.core import S3ObjectRef

_LINE_FIELD_PREFIX: Final = "lines."


def rejected_objects(
    tracking_id: str, objects: Sequence[S3ObjectRef], rejections: Sequence[Mapping[str, Any]]
) -> list[tuple[int, S3ObjectRef, RejectedInput]]:
    """Each rejected object's place in ``objects``, the object, and what to keep of it.

    >>> ref = S3ObjectRef(bucket="landing", key="a.ndjson", etag="e1")
    >>> rejection = {"index": 0, "eventId": ref.object_id, "lines": 2, "errors": [
    ...     {"field": "lines.2", "reason": "is not JSON"},
    ...     {"field": "lines.5", "reason": "is not JSON"}]}
    >>> [(index, item.origin, item.left_out_lines)
    ...  for index, _, item in rejected_objects("agg-1", [ref], [rejection])]
    [(0, 's3://landing/a.ndjson', (2, 5))]
    """
    kept: list[tuple[int, S3ObjectRef, RejectedInput]] = []
    for rejection in rejections:
        index = rejection.get("index")
        if not isinstance(index, int) or not 0 <= index < len(objects):
            continue
        ref = objects[index]
        left_out = tuple(
            int(field[len(_LINE_FIELD_PREFIX) :])
            for error in rejection.get("errors", [])
            if (field := str(error.get("field", ""))).startswith(_LINE_FIELD_PREFIX)
            and field[len(_LINE_FIELD_PREFIX) :].isdigit()
        )
        total = rejection.get("lines")
        item = RejectedInput(
            source=QuarantineSource.LANDING,
            input_id=ref.object_id,
            body=b"",
            reason=rejection_reason([rejection]),
            tracking_id=tracking_id,
            origin=f"s3://{ref.bucket}/{ref.key}",
            left_out_lines=left_out,
            left_out_total=total if isinstance(total, int) else len(left_out),
        )
        kept.append((index, ref, item))
    return kept
