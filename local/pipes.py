"""EventBridge Pipes from an SQS queue to a state machine, polled as AWS documents them.

One :class:`PipePoller` (one thread) per :class:`~stack.spec.PipeSpec`:

- it receives up to ``batch_size`` messages (at most 10 per ``ReceiveMessage``, as SQS allows),
  waiting up to ``batching_window_seconds`` after the first message to fill the batch;
- with ``filter_patterns`` (the pipe's filter criteria, :mod:`local.pipe_filter`) it deletes
  the messages matching none of them without starting anything, counted as ``filtered``, and
  delivers the rest; a batch left empty starts nothing;
- with an ``enrich`` callable (the pipe's enrichment: the runtime passes a synchronous Lambda
  invocation through the worker pool, :func:`lambda_enrichment`) it hands it the batch and starts
  the target with its answer instead; an empty answer (``""``, ``{}``, ``[]``, ``null``) starts
  nothing and the batch counts as handled, and a failed enrichment leaves the batch for
  redelivery, as Pipes do;
- it starts the target with ``StartExecution`` (``FIRE_AND_FORGET``), the execution input being
  the JSON array of the batch's records in the shape Pipes deliver (``messageId``,
  ``receiptHandle``, ``body``, ``attributes``, ``messageAttributes``, ``md5OfBody``,
  ``eventSource: "aws:sqs"``, ``eventSourceARN``, ``awsRegion``), or the enrichment's answer;
- once the execution has started it deletes the batch: what happens inside the workflow is the
  workflow's to handle;
- when the execution cannot start (the enrichment fails, ``StartExecution`` fails, or the input
  is over the 262,144 characters a Step Functions target accepts) it deletes nothing: the
  messages come back after the queue's visibility timeout, and after ``maxReceiveCount`` receives
  the queue's redrive policy moves them to its dead-letter queue. That is the only retry, as on
  AWS for SQS sources.

Time is real here (the runtime's time scale is for workflow waits): the batching window is
configurable so tests can use 0-1 s.

An idle pipe need not ask the endpoint at all: given ``has_messages`` (the runtime passes an
in-process look at the queue, :func:`local.moto_patches.visible_sqs_messages`), the poller waits
on it and calls ``ReceiveMessage`` only when there is something to receive. moto's server closes
every connection, so polling an empty queue over HTTP would open a socket per poll forever.

Example::

    poller = PipePoller("ingest", sqs=sqs, sfn=sfn, queue_url=url, queue_arn=arn,
                        state_machine_arn=machine, region="us-east-1", batch_size=10,
                        batching_window_seconds=1)
    poller.start()
    ...
    poller.stop()
    poller.stats()   # {"messages_received": 12, "batches_started": 2, ...}
"""

from __future__ import annotations

import base64
import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

from local.pipe_filter import compile_filters

MAX_MESSAGES_PER_RECEIVE: Final = 10
MAX_TARGET_INPUT_CHARACTERS: Final = 262_144
DEFAULT_POLL_WAIT_SECONDS: Final = 1.0
# After an unexpected error (the endpoint going away, say), wait before polling again.
_ERROR_BACKOFF_SECONDS: Final = 1.0
_SHORT_POLL_PAUSE_SECONDS: Final = 0.05
_PROBE_INTERVAL_SECONDS: Final = 0.02
_STAT_NAMES: Final = (
    "messages_received",
    "filtered",
    "batches_started",
    "messages_deleted",
    "failures",
    "oversized_batches",
    "enrichment_failures",
    "enrichment_dropped",
    "poll_errors",
)
# What Pipes read as "do not invoke the target" from an enrichment.
_EMPTY_ENRICHMENT_ANSWERS: Final[tuple[Any, ...]] = ("", {}, [], None)

_log = logging.getLogger(__name__)


class EnrichmentFailedError(Exception):
    """The pipe's enrichment failed: the batch stays on the queue for redelivery."""


Enrichment = Callable[[list[dict[str, Any]]], Any]
"""A pipe's enrichment: the batch's records in, the target's input (any JSON value) out."""


class _Invocation(Protocol):
    @property
    def payload(self) -> bytes: ...

    @property
    def function_error(self) -> str | None: ...


def lambda_enrichment(name: str, invoke: Callable[[bytes], _Invocation]) -> Enrichment:
    """An enrichment that invokes Lambda function ``name`` synchronously through ``invoke``.

    A function error (or an answer that is not JSON) raises :class:`EnrichmentFailedError`.

    >>> from types import SimpleNamespace
    >>> echo = lambda payload: SimpleNamespace(payload=payload, function_error=None)
    >>> lambda_enrichment("echo", echo)([{"messageId": "m1"}])
    [{'messageId': 'm1'}]
    """

    def enrich(records: list[dict[str, Any]]) -> Any:
        result = invoke(json.dumps(records, separators=(",", ":")).encode("utf-8"))
        if result.function_error is not None:
            detail = result.payload.decode("utf-8", "replace")[:500]
            raise EnrichmentFailedError(f"enrichment {name} failed: {detail}")
        try:
            return json.loads(result.payload)
        except ValueError as error:
            raise EnrichmentFailedError(f"enrichment {name} answered no JSON: {error}") from None

    return enrich


def pipe_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message (a ``ReceiveMessage`` entry) as a Pipes record.

    >>> record = pipe_record({"MessageId": "m1", "ReceiptHandle": "r", "Body": "{}",
    ...                       "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b"},
    ...                      "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")
    >>> record["eventSource"], record["messageId"], record["messageAttributes"]
    ('aws:sqs', 'm1', {})
    """
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # The SQS API's {"StringValue", "BinaryValue", "DataType"} in the camelCase event shape.
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [_b64(item) for item in value.get("BinaryListValues") or []],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = _b64(value["BinaryValue"])
    return converted


def _b64(raw: bytes | str) -> str:
    return base64.b64encode(raw if isinstance(raw, bytes) else raw.encode()).decode()


class PipePoller:
    """One pipe: a thread that polls ``queue_url`` and starts ``state_machine_arn`` per batch.

    ``sqs`` and ``sfn`` are boto3 clients (or anything with the same methods); the poller is
    their only user, so they are never shared between threads. :meth:`poll_once` runs one
    receive-start-delete round synchronously, for callers that drive it themselves.
    """

    def __init__(
        self,
        name: str,
        *,
        sqs: Any,
        sfn: Any,
        queue_url: str,
        queue_arn: str,
        state_machine_arn: str,
        region: str,
        batch_size: int = 10,
        batching_window_seconds: float = 0.0,
        poll_wait_seconds: float = DEFAULT_POLL_WAIT_SECONDS,
        execution_name: Callable[[], str] = lambda: str(uuid.uuid4()),
        has_messages: Callable[[], bool] | None = None,
        filter_patterns: Sequence[str] = (),
        enrich: Enrichment | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"pipe {name!r}: batch_size must be at least 1")
        if batching_window_seconds < 0 or poll_wait_seconds < 0:
            raise ValueError(f"pipe {name!r}: waits must be >= 0")
        self.name = name
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.state_machine_arn = state_machine_arn
        self.region = region
        self.batch_size = batch_size
        self.batching_window_seconds = batching_window_seconds
        self.poll_wait_seconds = poll_wait_seconds
        self.filter_patterns = tuple(filter_patterns)
        try:
            self._passes = compile_filters(self.filter_patterns)
        except ValueError as error:
            raise ValueError(f"pipe {name!r}: {error}") from None
        self._sqs = sqs
        self._sfn = sfn
        self._execution_name = execution_name
        self._has_messages = has_messages
        self._enrich = enrich
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stats = dict.fromkeys(_STAT_NAMES, 0)
        self.last_error: str | None = None

    # -- lifecycle --

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"pipe-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the thread to stop after the round in flight, without waiting for it."""
        self._stop.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop polling; a batch being collected is dropped (its messages come back later)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout if timeout is not None else self.poll_wait_seconds + 30)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stats(self) -> dict[str, int]:
        """Counters: ``messages_received``, ``filtered`` (matched no filter: deleted, not
        delivered), ``batches_started`` (executions started),
        ``messages_deleted``, ``failures`` (batches left for redelivery), ``oversized_batches``
        and ``enrichment_failures`` (of those, over the target's input limit, and failed in the
        enrichment), ``enrichment_dropped`` (batches the enrichment answered empty: deleted,
        nothing started), ``poll_errors`` (receive/delete errors)."""
        with self._lock:
            return dict(self._stats)

    def _count(self, stat: str, amount: int = 1) -> None:
        with self._lock:
            self._stats[stat] += amount

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as error:
                self._count("poll_errors")
                self.last_error = f"{type(error).__name__}: {error}"
                _log.warning("pipe %s: %s", self.name, self.last_error)
                self._stop.wait(_ERROR_BACKOFF_SECONDS)

    # -- one round --

    def poll_once(self) -> int:
        """Collect one batch and deliver it; returns the number of messages it held."""
        batch = self._collect()
        if batch and not self._stop.is_set():
            # A batch cut short by stop() is not started: its messages come back after the
            # visibility timeout, as they do when a poller goes away on AWS.
            self._deliver(batch)
        return len(batch)

    def _collect(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        seen: set[str] = set()
        deadline: float | None = None
        while len(batch) < self.batch_size and not self._stop.is_set():
            if deadline is None:
                wait = self.poll_wait_seconds  # idle: long-poll for the first message
            else:
                wait = deadline - time.monotonic()
                if wait <= 0:
                    break
            received = self._receive(
                min(MAX_MESSAGES_PER_RECEIVE, self.batch_size - len(batch)), wait
            )
            for message in received:
                if message["MessageId"] not in seen:
                    seen.add(message["MessageId"])
                    batch.append(message)
            self._count("messages_received", len(received))
            if not batch:
                return batch
            if deadline is None:
                if self.batching_window_seconds <= 0:
                    break
                deadline = time.monotonic() + self.batching_window_seconds
        return batch

    def _receive(self, count: int, wait: float) -> list[dict[str, Any]]:
        if self._has_messages is not None:
            if not self._await_messages(self._has_messages, wait):
                return []
            whole = 0  # there is something to receive now
        else:
            # SQS long-polls in whole seconds; a shorter wait is a short poll plus a pause.
            whole = min(20, math.floor(wait))
        answer = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=whole,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = list(answer.get("Messages") or [])
        if not messages and whole == 0 and wait > 0 and self._has_messages is None:
            self._stop.wait(min(wait, _SHORT_POLL_PAUSE_SECONDS))
        return messages

    def _await_messages(self, has_messages: Callable[[], bool], wait: float) -> bool:
        """Wait up to ``wait`` seconds for ``has_messages``; True as soon as it says so."""
        deadline = time.monotonic() + wait
        while not self._stop.is_set():
            try:
                if has_messages():
                    return True
            except Exception:
                return True  # cannot tell: let ReceiveMessage find out
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._stop.wait(min(remaining, _PROBE_INTERVAL_SECONDS))
        return False

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        records = [pipe_record(message, self.queue_arn, self.region) for message in batch]
        if self.filter_patterns:
            kept = [self._passes(record) for record in records]
            dropped = [message for message, keep in zip(batch, kept, strict=True) if not keep]
            if dropped:
                self._count("filtered", len(dropped))
                self._delete(dropped)
                batch = [message for message, keep in zip(batch, kept, strict=True) if keep]
                records = [record for record, keep in zip(records, kept, strict=True) if keep]
            if not batch:
                return
        target_input: Any = records
        if self._enrich is not None:
            try:
                target_input = self._enrich(records)
            except Exception as error:
                self._count("failures")
                self._count("enrichment_failures")
                self.last_error = f"enrichment failed: {type(error).__name__}: {error}"
                _log.warning("pipe %s: %s", self.name, self.last_error)
                return
            if target_input in _EMPTY_ENRICHMENT_ANSWERS:
                self._count("enrichment_dropped")
                self._delete(batch)
                return
        execution_input = json.dumps(target_input, separators=(",", ":"))
        if len(execution_input) > MAX_TARGET_INPUT_CHARACTERS:
            self._count("failures")
            self._count("oversized_batches")
            self.last_error = (
                f"the input of a batch of {len(batch)} messages is {len(execution_input):,} "
                f"characters; the target accepts {MAX_TARGET_INPUT_CHARACTERS:,}"
            )
            _log.warning("pipe %s: %s", self.name, self.last_error)
            return
        try:
            self._sfn.start_execution(
                stateMachineArn=self.state_machine_arn,
                name=self._execution_name(),
                input=execution_input,
            )
        except Exception as error:
            self._count("failures")
            self.last_error = f"StartExecution failed: {type(error).__name__}: {error}"
            _log.warning("pipe %s: %s", self.name, self.last_error)
            return
        self._count("batches_started")
        self._delete(batch)

    def _delete(self, batch: list[dict[str, Any]]) -> None:
        for start in range(0, len(batch), MAX_MESSAGES_PER_RECEIVE):
            chunk = batch[start : start + MAX_MESSAGES_PER_RECEIVE]
            answer = self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(chunk)
                ],
            )
            self._count("messages_deleted", len(answer.get("Successful") or []))
            failed = answer.get("Failed") or []
            if failed:
                self._count("poll_errors")
                self.last_error = f"DeleteMessageBatch failed for {failed}"
                _log.warning("pipe %s: %s", self.name, self.last_error)


class Pipes:
    """Every pipe of a stack, started and stopped together."""

    def __init__(self, pollers: list[PipePoller]) -> None:
        self.pollers = {poller.name: poller for poller in pollers}

    def start(self) -> None:
        for poller in self.pollers.values():
            poller.start()

    def stop(self) -> None:
        for poller in self.pollers.values():
            poller.request_stop()  # all at once: their waits overlap instead of adding up
        for poller in self.pollers.values():
            poller.stop()

    def stats(self) -> dict[str, dict[str, int]]:
        return {name: poller.stats() for name, poller in self.pollers.items()}
