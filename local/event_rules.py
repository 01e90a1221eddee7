"""EventBridge execution status rules, locally: how an execution ended reaches the rule's target.

On AWS, Step Functions emits "Step Functions Execution Status Change" events and the stack's
rules (``ExecutionStatusRuleSpec``) deliver them to a Lambda. Locally every execution that ends
passes through the :class:`ObservedArchive` (the lifecycle patch archives it, ``StopExecution``
included, and the durability restore archives the ones it marks FAILED with
``Local.RuntimeStopped``), which hands it to :class:`ExecutionStatusRules`. Those build the
same event, match it against each rule's pattern from the description (:mod:`local.pipe_filter`
matches EventBridge patterns) and deliver it to the target through the Lambda worker pool, as
EventBridge invokes it: asynchronously, retried, and what still fails is logged at ERROR and
sent to the rule's dead-letter queue.

>>> rules = ExecutionStatusRules(app, resources, invoke, send)  # doctest: +SKIP
>>> archive.observer = rules.observe; rules.start()  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from local.execution_archive import ArchivedExecution, ExecutionArchive
from local.lambdas.pool import InvocationResult
from local.pipe_filter import Pattern
from stack.spec import (
    EXECUTION_EVENT_SOURCE,
    EXECUTION_STATUS_CHANGE,
    App,
    ExecutionStatusRuleSpec,
)

__all__ = ["ExecutionStatusRules", "ObservedArchive", "status_change_event"]

_log = logging.getLogger(__name__)
# EventBridge retries for hours; a local stack retries briefly, then keeps the event.
DELIVERY_ATTEMPTS: Final = 5
FIRST_RETRY_DELAY_SECONDS: Final = 0.2
_STOP: Final = object()

Invoke = Callable[[str, bytes], InvocationResult]
SendDeadLetter = Callable[[str, str], None]


class ObservedArchive(ExecutionArchive):
    """The execution archive, telling ``observer`` of every execution put in it (each one that
    ended, or that the runtime's restart failed)."""

    observer: Callable[[ArchivedExecution], None] | None = None

    def put(self, execution: ArchivedExecution, history: list[dict[str, Any]]) -> None:
        super().put(execution, history)
        if self.observer is not None:
            self.observer(execution)


def status_change_event(execution: ArchivedExecution, account: str, region: str) -> dict[str, Any]:
    """The event Step Functions emits when ``execution`` reaches its status.

    >>> import datetime as dt
    >>> at = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> execution = ArchivedExecution("arn:e", "arn:m", "trk-1", "ABORTED", at, at,
    ...                               '{"trackingId": "trk-1"}', None, None, None)
    >>> event = status_change_event(execution, "123456789012", "us-east-1")
    >>> event["detail-type"], event["detail"]["status"], event["resources"]
    ('Step Functions Execution Status Change', 'ABORTED', ['arn:e'])
    """

    def millis(moment: Any) -> int | None:
        return None if moment is None else int(moment.timestamp() * 1000)

    stop = execution.stop_date
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": EXECUTION_STATUS_CHANGE,
        "source": EXECUTION_EVENT_SOURCE,
        "account": account,
        "time": (stop or execution.start_date).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [execution.execution_arn],
        "detail": {
            "executionArn": execution.execution_arn,
            "stateMachineArn": execution.state_machine_arn,
            "name": execution.name,
            "status": execution.status,
            "startDate": millis(execution.start_date),
            "stopDate": millis(stop),
            "input": execution.input,
            "inputDetails": {"included": execution.input is not None},
            "output": execution.output,
            "outputDetails": {"included": execution.output is not None},
            "error": execution.error,
            "cause": execution.cause,
        },
    }


@dataclass(frozen=True)
class _CompiledRule:
    spec: ExecutionStatusRuleSpec
    pattern: Pattern
    target: str
    dead_letter_queue: str


class ExecutionStatusRules:
    """The description's execution status rules on the local runtime.

    ``state_machine_arn`` and ``invoke`` (by physical function name) and ``send_dead_letter``
    (physical queue name, message body) come from the runtime. Events observed before
    :meth:`start` (the restore's, while the workers start) wait for it.
    """

    def __init__(
        self,
        app: App,
        state_machine_arn: Callable[[str], str],
        invoke: Invoke,
        send_dead_letter: SendDeadLetter,
        retry_delay_seconds: float = FIRST_RETRY_DELAY_SECONDS,
    ) -> None:
        self._account = app.config.account_id
        self._region = app.config.region
        self._rules = [
            _CompiledRule(
                spec,
                Pattern(json.dumps(spec.pattern(state_machine_arn))),
                app.physical_name(spec.target_function),
                app.physical_name(spec.dead_letter_queue),
            )
            for spec in app.execution_status_rules
        ]
        self._invoke = invoke
        self._send_dead_letter = send_dead_letter
        self._retry_delay = retry_delay_seconds
        self._pending: queue.Queue[Any] = queue.Queue()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def observe(self, execution: ArchivedExecution) -> None:
        """Queue the event of ``execution`` for every rule it matches; never blocks."""
        event = status_change_event(execution, self._account, self._region)
        for rule in self._rules:
            if rule.pattern.matches(event):
                self._pending.put((rule, event))

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._deliver_all, name="execution-status-rules", daemon=True
        )
        self._thread.start()

    def close(self, timeout_seconds: float = 10.0) -> None:
        """Deliver what is queued (within ``timeout_seconds``), then stop."""
        if self._thread is None:
            return
        self._pending.put(_STOP)
        self._thread.join(timeout_seconds)
        self._stopping.set()
        self._thread.join()
        self._thread = None
        left = self._pending.qsize()
        if left:
            _log.error("%d execution status events were not delivered before the stop", left)

    def _deliver_all(self) -> None:
        while True:
            item = self._pending.get()
            if item is _STOP:
                return
            rule, event = item
            self._deliver(rule, event)

    def _deliver(self, rule: _CompiledRule, event: dict[str, Any]) -> None:
        payload = json.dumps(event).encode()
        problem = ""
        delay = self._retry_delay
        for attempt in range(1, DELIVERY_ATTEMPTS + 1):
            try:
                result = self._invoke(rule.target, payload)
            except Exception as error:
                problem = f"{type(error).__name__}: {error}"
            else:
                if result.function_error is None:
                    return
                problem = f"{result.function_error}: {result.payload[:500]!r}"
            if attempt < DELIVERY_ATTEMPTS and self._stopping.wait(delay):
                break
            delay *= 2
        _log.error(
            "rule %s could not deliver the %s of %s to %s (%s); kept in %s",
            rule.spec.name,
            event["detail"]["status"],
            event["detail"]["executionArn"],
            rule.target,
            problem,
            rule.dead_letter_queue,
        )
        try:
            self._send_dead_letter(rule.dead_letter_queue, json.dumps(event))
        except Exception:
            _log.exception("the event could not be kept in %s either", rule.dead_letter_queue)
