"""The claim check between a pipe and its workflow: what claim_check writes, validate reads.

A Pipes batch too big to be an execution's input is stored in the staging bucket, and the
workflow starts with a one-element array holding only where it is::

    [{"batchPointer": {"bucket": "...", "key": "batches/<sha256>.json", "records": 3,
                       "bytes": 307712}}]
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

from functions._shared.models import NonBlankName

# Step Functions accepts 262,144 bytes of execution input, and the same of any state's data.
# Batches travel inline up to 56 KiB below that, and no single message may be bigger: validate's
# output carries the events plus the envelope's own fields (tracking id, counts, rejections).
INLINE_BATCH_LIMIT_BYTES: Final = 200 * 1024
# Messages each under that limit can still add up to more than a state holds once validate
# accepts them all: validate keeps at most this many bytes of serialised events inline and sends
# the messages over it back to the queue, leaving the envelope's own fields the same 56 KiB.
INLINE_EVENTS_BUDGET_BYTES: Final = 200 * 1024
BATCH_PREFIX: Final = "batches/"
POINTER_KEY: Final = "batchPointer"


class BatchPointer(BaseModel):
    """Where a stored batch is, how many records it holds and its size in bytes."""

    model_config = ConfigDict(frozen=True)

    bucket: NonBlankName
    key: Annotated[str, Field(min_length=len(BATCH_PREFIX) + 1, pattern=f"^{BATCH_PREFIX}")]
    records: Annotated[int, Field(ge=1, strict=True)]
    bytes: Annotated[int, Field(ge=2, strict=True)]

    def to_payload(self) -> list[dict[str, dict[str, str | int]]]:
        """The execution input that stands for the batch.

        >>> BatchPointer(bucket="b", key="batches/x.json", records=1, bytes=9).to_payload()
        [{'batchPointer': {'bucket': 'b', 'key': 'batches/x.json', 'records': 1, 'bytes': 9}}]
        """
        return [{POINTER_KEY: self.model_dump()}]
