"""Queues and their dead-letter queues: depth, and redrive with loop prevention (pure).

A redrive moves a dead-letter queue's messages back to its source with SQS's own
``StartMessageMoveTask``. Before the move, each message is counted in the redrive ledger under
a key derived from its queue and body; a message that has already come back more than
``max_redrives`` times is *set aside* (kept in the ledger with its body, attributes and the
times it was redriven, and deleted from the dead-letter queue) instead of being sent round the
loop again. The others are released at once, and the move task takes them.

Example::

    report = queue_report(settings.queues, sqs)
    started = start_redrive(target, sqs, ledger, max_redrives=3, rate=None, now=now)
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

# A redrive screens at most this many messages; a larger dead-letter queue is screened over
# several redrives (the move task takes only what was visible when it started).
MAX_SCREENED_MESSAGES: Final = 1000


@dataclass(frozen=True)
class QueueDepth:
    name: str
    url: str
    visible: int
    in_flight: int
    delayed: int
    oldest_message_age_seconds: int | None

    def to_payload(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "visible": self.visible,
            "inFlight": self.in_flight,
            "delayed": self.delayed,
            "oldestMessageAgeSeconds": self.oldest_message_age_seconds,
        }


@dataclass(frozen=True)
class HeldMessage:
    """A dead-letter message received for screening, invisible until released or deleted."""

    message_id: str
    body: str
    attributes: Mapping[str, Any]
    receipt_handle: str


@dataclass(frozen=True)
class RedriveTarget:
    """A queue and its dead-letter queue, as the move task names them."""

    queue: str
    queue_arn: str
    dead_letter_queue: str
    dead_letter_url: str
    dead_letter_arn: str


@dataclass(frozen=True)
class SetAside:
    message_id: str
    message_key: str
    redrives: int

    def to_payload(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "messageKey": self.message_key,
            "redrives": self.redrives,
        }


@dataclass(frozen=True)
class RedriveStarted:
    task_handle: str
    source_arn: str
    destination_arn: str
    set_aside: tuple[SetAside, ...] = field(default=())

    def to_payload(self) -> dict[str, Any]:
        return {
            "taskHandle": self.task_handle,
            "sourceArn": self.source_arn,
            "destinationArn": self.destination_arn,
            "setAside": [entry.to_payload() for entry in self.set_aside],
        }


class RedriveInProgressError(Exception):
    """A move task is already running for this dead-letter queue (SQS allows one)."""


class UnknownQueueError(Exception):
    """The queue is not one the stack operates, or it has no dead-letter queue."""


class QueueService(Protocol):
    def url(self, name: str) -> str: ...

    def arn(self, url: str) -> str: ...

    def depth(self, name: str, url: str) -> QueueDepth: ...

    def hold(self, url: str, limit: int) -> list[HeldMessage]: ...

    def release(self, url: str, messages: Sequence[HeldMessage]) -> None: ...

    def delete(self, url: str, message: HeldMessage) -> None: ...

    def start_move(self, source_arn: str, destination_arn: str, rate: int | None) -> str: ...

    def list_moves(self, source_arn: str) -> list[dict[str, Any]]: ...

    def cancel_move(self, task_handle: str) -> int: ...


class RedriveLedger(Protocol):
    def count_redrive(self, key: str, queue: str, now: str) -> int:
        """Add one redrive of ``key`` at ``now`` (ISO 8601); the new count."""
        ...

    def set_aside(self, key: str, queue: str, message: HeldMessage, now: str) -> None: ...


def message_key(queue: str, body: str) -> str:
    """The ledger's key of a message: the same body in the same queue is the same message.

    >>> message_key("stepflow-dev-ingest", "{}")[:16]
    '9ab61e0cb5014e94'
    """
    return hashlib.sha256(f"{queue}\n{body}".encode()).hexdigest()


def queue_report(queues: Mapping[str, str], sqs: QueueService) -> dict[str, Any]:
    """``{"queues": [...]}``: each operated queue with its dead-letter queue's depth."""
    report = []
    for name, dead_letter in sorted(queues.items()):
        entry = sqs.depth(name, sqs.url(name)).to_payload()
        entry["deadLetter"] = (
            sqs.depth(dead_letter, sqs.url(dead_letter)).to_payload() if dead_letter else None
        )
        report.append(entry)
    return {"queues": report}


def redrive_target(queues: Mapping[str, str], queue: str, sqs: QueueService) -> RedriveTarget:
    dead_letter = queues.get(queue)
    if dead_letter is None:
        raise UnknownQueueError(f"no queue {queue!r}; known: {', '.join(sorted(queues))}")
    if not dead_letter:
        raise UnknownQueueError(f"queue {queue!r} has no dead-letter queue")
    dead_letter_url = sqs.url(dead_letter)
    return RedriveTarget(
        queue=queue,
        queue_arn=sqs.arn(sqs.url(queue)),
        dead_letter_queue=dead_letter,
        dead_letter_url=dead_letter_url,
        dead_letter_arn=sqs.arn(dead_letter_url),
    )


def start_redrive(
    target: RedriveTarget,
    sqs: QueueService,
    ledger: RedriveLedger,
    *,
    max_redrives: int,
    rate: int | None,
    now: str,
) -> RedriveStarted:
    """Screen the dead-letter queue (setting aside what looped too often), then start the move.

    Raises :class:`RedriveInProgressError` before touching anything when a move is running.
    """
    if any(task.get("Status") == "RUNNING" for task in sqs.list_moves(target.dead_letter_arn)):
        raise RedriveInProgressError(
            f"a redrive of {target.dead_letter_queue} is already running; cancel it or wait"
        )
    held = sqs.hold(target.dead_letter_url, MAX_SCREENED_MESSAGES)
    set_aside: list[SetAside] = []
    kept: list[HeldMessage] = []
    try:
        for message in held:
            key = message_key(target.queue, message.body)
            redrives = ledger.count_redrive(key, target.queue, now)
            if redrives > max_redrives:
                ledger.set_aside(key, target.queue, message, now)
                sqs.delete(target.dead_letter_url, message)
                set_aside.append(SetAside(message.message_id, key, redrives))
            else:
                kept.append(message)
    finally:
        # Whatever was not set aside goes back at once, also when the screening failed.
        sqs.release(target.dead_letter_url, kept + held[len(kept) + len(set_aside) :])
    handle = sqs.start_move(target.dead_letter_arn, target.queue_arn, rate)
    return RedriveStarted(handle, target.dead_letter_arn, target.queue_arn, tuple(set_aside))
