"""EventBridge execution status rules, locally: how an execution ended reaches the rule's target.

On AWS, Step Functions emits "Step Functions Execution Status Change" events and the stack's
rules (``ExecutionStatusRuleSpec``) deliver them to a Lambda. Locally every execution that ends
passes through the :class:`ObservedArchive` (the lifecycle patch archives it, ``StopExecution``
included, and the durability restore archives the ones it marks FAILED with
``Local.RuntimeStopped``), which hands it to :class:`ExecutionStatusRules`. Those build the
same event, match it against each rule's pattern from the description (:mod:`local.pipe_filter`
matches EventBridge patterns) and deliver it to the target through the Lambda worker pool, as
EventBridge invokes it: asynchronously, retried, and what still fails is logged at ERROR and
sent to the rule's dead-letter queue. Until then each event is journaled
(:mod:`local.durability.outcome_events`, once :meth:`ExecutionStatusRules.attach` is called), so
the next start delivers what a ``kill -9`` interrupted.

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

from local.durability.journal import JournalError
from local.durability.outcome_events import OutcomeJournal
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
        self._journal_lock = threading.Lock()
        self._journal: OutcomeJournal | None = None
        self._unjournaled: list[tuple[str, str, str]] = []

    def attach(self, journal: OutcomeJournal) -> None:
        """Journal every event from now on (and those observed so far), and queue the ones a
        previous run left undelivered."""
        by_name = {rule.spec.name: rule for rule in self._rules}
        for event_id, rule_name, encoded in journal.pending():
            rule = by_name.get(rule_name)
            if rule is None:
                _log.error("an outcome event of the unknown rule %s is left undelivered", rule_name)
                continue
            self._pending.put((rule, json.loads(encoded), event_id))
        with self._journal_lock:
            for row in self._unjournaled:
                journal.add(*row)
            self._unjournaled.clear()
            self._journal = journal

    def observe(self, execution: ArchivedExecution) -> None:
        """Queue the event of ``execution`` for every rule it matches; never blocks."""
        event = status_change_event(execution, self._account, self._region)
        for rule in self._rules:
            if rule.pattern.matches(event):
                event_id = f"{event['id']}:{rule.spec.name}"
                row = (event_id, rule.spec.name, json.dumps(event))
                with self._journal_lock:
                    if self._journal is not None:
                        self._journal_or_log(self._journal.add, *row)
                    else:
                        self._unjournaled.append(row)
                self._pending.put((rule, event, event_id))

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
            rule, event, event_id = item
            if self._deliver(rule, event):
                self._settle(event_id)

    @staticmethod
    def _journal_or_log(write: Callable[..., None], *row: str) -> None:
        try:
            write(*row)
        except JournalError as error:
            # Only while the runtime stops (the journal closes before the rules): an event left
            # journaled is delivered again at the next start, which is harmless.
            _log.warning("an outcome event could not be journaled: %s", error)

    def _settle(self, event_id: str) -> None:
        with self._journal_lock:
            if self._journal is not None:
                self._journal_or_log(self._journal.settle, event_id)
            else:
                self._unjournaled = [row for row in self._unjournaled if row[0] != event_id]

    def _deliver(self, rule: _CompiledRule, event: dict[str, Any]) -> bool:
        """Whether the event reached the target or the dead-letter queue; if not, it stays
        journaled for the next start."""
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
                    return True
                problem = f"{result.function_error}: {result.payload[:500]!r}"
            if attempt < DELIVERY_ATTEMPTS and self._stopping.wait(delay):
                # Stopping: what was not delivered stays journaled for the next start.
                return False
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
            return False
        return True
