"""Step Functions executions, written through: a start answers once it is journaled, and every
history event is journaled as it is added; an execution that ends leaves the journal for the
archive (:mod:`local.execution_archive`), which already keeps finished executions.

What the journal still holds at start-up was running when the runtime stopped. Each such
execution is moved to the archive as FAILED (``Local.RuntimeStopped``) with the history it had,
so ``DescribeExecution`` shows it and ``RedriveExecution`` resumes it from the state it was in.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from local.durability.accounts import journal_for
from local.durability.codec import decode, encode
from local.durability.journal import Journal, Ticket
from local.durability.moto_access import moto
from local.execution_archive import ArchivedExecution, ExecutionArchive

__all__ = [
    "RUNTIME_STOPPED_CAUSE",
    "RUNTIME_STOPPED_ERROR",
    "SCHEMA",
    "freeze",
    "install",
    "restore",
    "thaw",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS sfn_executions (
    execution_arn     TEXT PRIMARY KEY,
    state_machine_arn TEXT NOT NULL,
    name              TEXT NOT NULL,
    input             TEXT NOT NULL,
    role_arn          TEXT,
    start_date        REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sfn_events (
    execution_arn TEXT NOT NULL,
    event_id      INTEGER NOT NULL,
    event         TEXT NOT NULL,
    PRIMARY KEY (execution_arn, event_id)
);
"""
RUNTIME_STOPPED_ERROR = "Local.RuntimeStopped"
RUNTIME_STOPPED_CAUSE = (
    "the local runtime stopped while this execution was running; redrive it to resume"
)
_ARN_TAG = "_stepflow_execution_arn"
_TICKET_TAG = "_stepflow_last_event_ticket"
_log = logging.getLogger(__name__)
# Set while the runtime stops: executions that end then (their Lambdas gone) are not archived
# with whatever error the shutdown gave them; they stay journaled as running, and the next
# start fails them with the clear cause instead.
_stopping = threading.Event()


def freeze() -> None:
    """From now on, an execution that ends is left as it was journaled: running."""
    _stopping.set()


def thaw() -> None:
    _stopping.clear()


def _account(execution_arn: str) -> str:
    return execution_arn.split(":")[4]


def _journaled_start(original: Any) -> Any:
    def start_execution(self: Any, *args: Any, **kwargs: Any) -> Any:
        execution = original(self, *args, **kwargs)
        journal = journal_for(self.account_id)
        if journal is not None:
            journal.write(
                [
                    (
                        "INSERT OR IGNORE INTO sfn_executions VALUES (?,?,?,?,?,?)",
                        (
                            execution.exec_arn,
                            execution.state_machine_arn,
                            execution.name,
                            execution.execution_input or "{}",
                            execution.role_arn,
                            execution.start_date.timestamp(),
                        ),
                    )
                ]
            )
        return execution

    return start_execution


def _tagged_environment(original: Any) -> Any:
    # An event manager knows nothing of its execution; its environment is made for one.
    def environment(self: Any) -> Any:
        env = original(self)
        arn = self._evaluation_details.execution_details.arn
        setattr(env.event_manager, _ARN_TAG, arn)
        return env

    return environment


def _journaled_publish(original: Any) -> Any:
    # Runs under the event manager's lock: events are submitted in the order of their ids, and
    # the journal commits in submission order, so what a crash keeps is a prefix of the history
    # (a redrive then re-runs at most the step whose end was lost, as redrives re-run steps).
    # Nobody is answered on an event, so the interpreter does not wait for its commit; a failed
    # commit is logged by the journal and fails the execution at its next event.
    def publish(self: Any, *args: Any, **kwargs: Any) -> None:
        arn: str | None = getattr(self, _ARN_TAG, None)
        journal = journal_for(_account(arn)) if arn else None
        previous: Ticket | None = getattr(self, _TICKET_TAG, None)
        if journal is not None and previous is not None and previous.failed():
            previous.wait()  # raises the commit's error
        original(self, *args, **kwargs)
        if journal is None:
            return
        event = self._history_event_list[-1]
        ticket = journal.submit(
            [
                (
                    "INSERT OR REPLACE INTO sfn_events VALUES (?,?,?)",
                    (arn, int(event["id"]), encode(event)),
                )
            ]
        )
        setattr(self, _TICKET_TAG, ticket)

    return publish


def _forgotten_when_archived(original: Any) -> Any:
    def terminated(self: Any) -> None:
        if _stopping.is_set():
            return
        original(self)  # the runtime's own patch archives the execution in there
        arn = self.execution.exec_arn
        journal = journal_for(_account(arn))
        if journal is not None:
            # Not waited for: rows left by a failed commit belong to an archived execution,
            # which the next start recognises as finished and drops.
            journal.submit(_forget(arn))

    return terminated


def _forget(execution_arn: str) -> list[tuple[str, tuple[str]]]:
    return [
        ("DELETE FROM sfn_events WHERE execution_arn = ?", (execution_arn,)),
        ("DELETE FROM sfn_executions WHERE execution_arn = ?", (execution_arn,)),
    ]


def install() -> None:
    backend = moto("moto.stepfunctions.parser.models").StepFunctionsParserBackend
    worker = moto("moto.stepfunctions.parser.backend.execution_worker").ExecutionWorker
    manager = moto("moto.stepfunctions.parser.asl.eval.event.event_manager").EventManager
    communication = moto(
        "moto.stepfunctions.parser.backend.execution"
    ).BaseExecutionWorkerCommunication
    backend.start_execution = _journaled_start(backend.start_execution)
    worker._get_evaluation_environment = _tagged_environment(worker._get_evaluation_environment)
    manager._publish_history_event = _journaled_publish(manager._publish_history_event)
    communication.terminated = _forgotten_when_archived(communication.terminated)


# --- restore ----------------------------------------------------------------------------------


def _timestamp() -> str:
    iso: str = moto("moto.core.utils").iso_8601_datetime_with_milliseconds(
        dt.datetime.now(tz=dt.UTC)
    )
    return iso


def _started_event(started: tuple[Any, ...]) -> dict[str, Any]:
    _, _, _, execution_input, role_arn, start_date = started
    return {
        "id": 1,
        "previousEventId": 0,
        "type": "ExecutionStarted",
        "timestamp": moto("moto.core.utils").iso_8601_datetime_with_milliseconds(
            dt.datetime.fromtimestamp(start_date, tz=dt.UTC)
        ),
        "executionStartedEventDetails": {
            "input": execution_input,
            "inputDetails": {"truncated": False},
            "roleArn": role_arn,
        },
    }


def _interrupted(
    execution_arn: str,
    started: tuple[Any, ...] | None,
    events: list[dict[str, Any]],
    archived: ArchivedExecution | None,
    archived_history: list[dict[str, Any]],
) -> tuple[ArchivedExecution, list[dict[str, Any]]]:
    """The execution as FAILED by the stop, with the history it had and the failure event."""
    first_journaled = events[0]["id"] if events else None
    history = [
        event
        for event in archived_history
        if first_journaled is None or int(event["id"]) < int(first_journaled)
    ] + events
    if not history and started is not None:
        history = [_started_event(started)]
    last_id = max((int(event["id"]) for event in history), default=0)
    history.append(
        {
            "id": last_id + 1,
            "previousEventId": last_id,
            "type": "ExecutionFailed",
            "timestamp": _timestamp(),
            "executionFailedEventDetails": {
                "error": RUNTIME_STOPPED_ERROR,
                "cause": RUNTIME_STOPPED_CAUSE,
            },
        }
    )
    machine_arn, name = execution_arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)
    if started is not None:
        start_date = dt.datetime.fromtimestamp(started[5], tz=dt.UTC)
        machine_arn, name, execution_input = started[1], started[2], started[3]
    elif archived is not None:
        start_date, execution_input = archived.start_date, archived.input
    else:
        start_date, execution_input = dt.datetime.now(tz=dt.UTC), _input_of(history)
    execution = ArchivedExecution(
        execution_arn=execution_arn,
        state_machine_arn=machine_arn,
        name=name,
        status="FAILED",
        start_date=start_date,
        stop_date=dt.datetime.now(tz=dt.UTC),
        input=execution_input,
        output=None,
        error=RUNTIME_STOPPED_ERROR,
        cause=RUNTIME_STOPPED_CAUSE,
    )
    return execution, history


def _input_of(history: list[dict[str, Any]]) -> str:
    for event in history:
        details = event.get("executionStartedEventDetails")
        if details:
            return str(details.get("input", "{}"))
    return "{}"


def restore(journal: Journal, archive: ExecutionArchive) -> int:
    """Fail every execution the journal still holds into the archive; returns how many."""
    started_rows = {row[0]: row for row in journal.query("SELECT * FROM sfn_executions")}
    events: dict[str, list[dict[str, Any]]] = {}
    for arn, encoded in journal.query(
        "SELECT execution_arn, event FROM sfn_events ORDER BY execution_arn, event_id"
    ):
        events.setdefault(arn, []).append(decode(encoded))
    failed = 0
    for arn in sorted(set(started_rows) | set(events)):
        journaled = events.get(arn, [])
        archived = archive.get(arn)
        archived_history = archive.history(arn) or []
        last_archived = max((int(e["id"]) for e in archived_history), default=0)
        last_journaled = max((int(e["id"]) for e in journaled), default=0)
        finished = archived is not None and archived.status != "RUNNING"
        if not (finished and last_archived >= last_journaled):
            execution, history = _interrupted(
                arn, started_rows.get(arn), journaled, archived, archived_history
            )
            archive.put(execution, history)
            failed += 1
            _log.warning("execution %s was running when the runtime stopped: FAILED", arn)
        elif archived is not None:
            # Archived, but the runtime stopped before forgetting it: its outcome event may not
            # have been journaled yet. Archiving it again emits it again (a repeat is harmless:
            # status records only move forward).
            archive.put(archived, archived_history)
        journal.write(_forget(arn))
    return failed
