"""Patch 14: SQS dead-letter queue redrive (``StartMessageMoveTask``, ``ListMessageMoveTasks``,
``CancelMessageMoveTask``), which moto 5.2.5 has none of.

AWS's semantics, as documented for the three actions:

- the source must be the dead-letter queue of at least one queue (``InvalidParameterValue``
  otherwise); the destination defaults to that source queue;
- one running task per source queue (``UnsupportedOperation`` for a second);
- ``MaxNumberOfMessagesPerSecond`` is 1-500 (default: as fast as possible, here 500);
- a task moves the messages the queue held when it started
  (``ApproximateNumberOfMessagesToMove``), keeps their bodies and message attributes, and ends
  ``COMPLETED``; a cancel moves it to ``CANCELLING`` and the mover to ``CANCELLED``; a move that
  cannot continue (the destination was deleted) ends ``FAILED`` with ``FailureReason``;
- ``ListMessageMoveTasks`` answers the most recent tasks of a source first (``MaxResults`` 1-10,
  default 1), with ``TaskHandle`` only on the running one.

Messages move through moto's own backend operations (receive, send, delete), so the local
durability journal records every move as it records any other request.

A dead-letter queue that serves several source queues and is given no destination is refused:
moto does not remember which queue a message came from, and guessing would deliver it to the
wrong consumer.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Final

from local.moto_patches.patch_context import moto_module

MAX_MESSAGES_PER_SECOND: Final = 500
_TASKS_LISTED_MAX: Final = 10
_RECEIVE_BATCH: Final = 10
# Long enough that a message received for a move is not seen by a consumer before it is deleted.
_MOVE_VISIBILITY_SECONDS: Final = 30


class TaskStatus:
    RUNNING: Final = "RUNNING"
    COMPLETED: Final = "COMPLETED"
    CANCELLING: Final = "CANCELLING"
    CANCELLED: Final = "CANCELLED"
    FAILED: Final = "FAILED"


@dataclass
class MessageMoveTask:
    """One move, its progress updated by its mover thread under ``lock``."""

    task_id: str
    account_id: str
    region: str
    source_arn: str
    destination_arn: str
    max_per_second: int | None
    to_move: int
    started_ms: int
    status: str = TaskStatus.RUNNING
    moved: int = 0
    failure_reason: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def handle(self) -> str:
        document = json.dumps({"taskId": self.task_id, "sourceArn": self.source_arn})
        return base64.b64encode(document.encode()).decode()

    def to_result(self) -> dict[str, Any]:
        """The task as ``ListMessageMoveTasks`` lists it (AWS's field names)."""
        with self.lock:
            result: dict[str, Any] = {
                "Status": self.status,
                "SourceArn": self.source_arn,
                "DestinationArn": self.destination_arn,
                "ApproximateNumberOfMessagesMoved": self.moved,
                "ApproximateNumberOfMessagesToMove": self.to_move,
                "StartedTimestamp": self.started_ms,
            }
            if self.max_per_second is not None:
                result["MaxNumberOfMessagesPerSecond"] = self.max_per_second
            if self.status == TaskStatus.RUNNING:
                result["TaskHandle"] = self.handle
            if self.failure_reason is not None:
                result["FailureReason"] = self.failure_reason
            return result


_tasks_lock = threading.Lock()
_tasks: dict[str, list[MessageMoveTask]] = {}  # source ARN -> tasks, newest first


def _error(code: str, message: str) -> Exception:
    exceptions = moto_module("moto.sqs.exceptions")
    error: Exception = exceptions.SQSException(code, message)
    return error


def _queue_name(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def _queue_by_arn(backend: Any, arn: str, role: str) -> Any:
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise _error("InvalidParameterValue", f"{role} {arn!r} is not an SQS queue ARN")
    missing = _error(
        "ResourceNotFoundException",
        f"The resource that you specified for the {role} parameter does not exist.",
    )
    try:
        queue = backend.get_queue(parts[5])
    except moto_module("moto.sqs.exceptions").QueueDoesNotExist:
        raise missing from None
    if queue.queue_arn != arn:
        raise missing
    return queue


def start_message_move_task(
    backend: Any, source_arn: str, destination_arn: str | None, max_per_second: int | None
) -> MessageMoveTask:
    """Check the request as SQS does, register the task and start its mover."""
    source = _queue_by_arn(backend, source_arn, "SourceArn")
    sources = backend.list_dead_letter_source_queues(source.name)
    if not sources:
        raise _error(
            "InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue."
        )
    if destination_arn is None:
        if len(sources) > 1:
            raise _error(
                "UnsupportedOperation",
                "The local endpoint cannot tell which of the dead-letter queue's "
                f"{len(sources)} source queues each message came from; pass DestinationArn.",
            )
        destination_arn = str(sources[0].queue_arn)
    else:
        _queue_by_arn(backend, destination_arn, "DestinationArn")
    if max_per_second is not None and not 1 <= max_per_second <= MAX_MESSAGES_PER_SECOND:
        raise _error(
            "InvalidParameterValue",
            f"MaxNumberOfMessagesPerSecond must be between 1 and {MAX_MESSAGES_PER_SECOND}.",
        )
    with _tasks_lock:
        existing = _tasks.setdefault(source_arn, [])
        if any(task.status in (TaskStatus.RUNNING, TaskStatus.CANCELLING) for task in existing):
            raise _error(
                "UnsupportedOperation",
                "There is already a task running. Only one active task is allowed for each "
                "source queue arn at a given time.",
            )
        task = MessageMoveTask(
            task_id=uuid.uuid4().hex,
            account_id=backend.account_id,
            region=backend.region_name,
            source_arn=source_arn,
            destination_arn=destination_arn,
            max_per_second=max_per_second,
            to_move=int(source.approximate_number_of_messages)
            + int(source.approximate_number_of_messages_not_visible),
            started_ms=int(time.time() * 1000),
        )
        existing.insert(0, task)
        del existing[_TASKS_LISTED_MAX:]
    threading.Thread(
        target=_move, args=(backend, task), name=f"sqs-move-{task.task_id[:8]}", daemon=True
    ).start()
    return task


def list_message_move_tasks(
    backend: Any, source_arn: str, max_results: int | None
) -> list[dict[str, Any]]:
    _queue_by_arn(backend, source_arn, "SourceArn")
    limit = 1 if max_results is None else max_results
    if not 1 <= limit <= _TASKS_LISTED_MAX:
        raise _error("InvalidParameterValue", "MaxResults must be between 1 and 10.")
    with _tasks_lock:
        tasks = list(_tasks.get(source_arn, ()))
    return [task.to_result() for task in tasks[:limit]]


def cancel_message_move_task(handle: str) -> int:
    """Ask a running task to stop; answers how many messages it had moved."""
    try:
        decoded = json.loads(base64.b64decode(handle, validate=True))
        task_id, source_arn = str(decoded["taskId"]), str(decoded["sourceArn"])
    except (ValueError, KeyError, TypeError) as error:
        raise _error(
            "InvalidParameterValue", "Value for parameter TaskHandle is invalid."
        ) from error
    with _tasks_lock:
        task = next((t for t in _tasks.get(source_arn, ()) if t.task_id == task_id), None)
    if task is None:
        raise _error("ResourceNotFoundException", "The specified task does not exist.")
    with task.lock:
        if task.status != TaskStatus.RUNNING:
            raise _error(
                "UnsupportedOperation",
                f"Only a RUNNING task can be cancelled; it is {task.status}.",
            )
        task.status = TaskStatus.CANCELLING
        return task.moved


def _move(backend: Any, task: MessageMoveTask) -> None:
    source, destination = _queue_name(task.source_arn), _queue_name(task.destination_arn)
    interval = 0.0 if task.max_per_second is None else 1.0 / task.max_per_second
    next_send = time.monotonic()
    try:
        while True:
            with task.lock:
                if task.status == TaskStatus.CANCELLING:
                    task.status = TaskStatus.CANCELLED
                    return
                remaining = task.to_move - task.moved
            if remaining <= 0:
                break
            batch = min(_RECEIVE_BATCH, remaining, task.max_per_second or _RECEIVE_BATCH)
            messages = backend.receive_message(
                source, batch, 0, _MOVE_VISIBILITY_SECONDS, message_attribute_names=["All"]
            )
            if not messages:
                # What is left is in flight with a consumer or was deleted: AWS counts the task
                # complete once nothing more is visible.
                break
            for message in messages:
                pause = next_send - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                next_send = max(next_send, time.monotonic()) + interval
                backend.send_message(
                    destination,
                    message.body,
                    message_attributes=dict(message.message_attributes),
                    group_id=message.group_id,
                    deduplication_id=message.deduplication_id,
                )
                backend.delete_message(source, message.receipt_handle)
                with task.lock:
                    task.moved += 1
    except Exception as error:  # the task reports any failure, as SQS does
        with task.lock:
            task.status = TaskStatus.FAILED
            task.failure_reason = f"{type(error).__name__}: {error}"
        return
    with task.lock:
        task.status = (
            TaskStatus.CANCELLED if task.status == TaskStatus.CANCELLING else TaskStatus.COMPLETED
        )


def patch_sqs_message_move() -> None:
    ActionResult = moto_module("moto.core.responses").ActionResult
    SQSResponse = moto_module("moto.sqs.responses").SQSResponse

    def start(self: Any) -> Any:
        rate = self._get_param("MaxNumberOfMessagesPerSecond")
        task = start_message_move_task(
            self.sqs_backend,
            self._get_param("SourceArn"),
            self._get_param("DestinationArn"),
            None if rate is None else int(rate),
        )
        return ActionResult({"TaskHandle": task.handle})

    def list_tasks(self: Any) -> Any:
        limit = self._get_param("MaxResults")
        results = list_message_move_tasks(
            self.sqs_backend, self._get_param("SourceArn"), None if limit is None else int(limit)
        )
        return ActionResult({"Results": results})

    def cancel(self: Any) -> Any:
        moved = cancel_message_move_task(self._get_param("TaskHandle"))
        return ActionResult({"ApproximateNumberOfMessagesMoved": moved})

    # moto dispatches an action to the method of its snake_case name.
    SQSResponse.start_message_move_task = start
    SQSResponse.list_message_move_tasks = list_tasks
    SQSResponse.cancel_message_move_task = cancel
