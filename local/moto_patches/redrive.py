"""Patch 11: ``RedriveExecution``, which moto has none of.

A FAILED, TIMED_OUT or ABORTED Standard execution, live or archived, re-runs from the top-level
state it did not finish (for a failure inside a Map or Parallel, that Map or Parallel), with the
input that state was entered with, under the same execution ARN; the new events follow the old
ones in the same history after an ``ExecutionRedriven`` event. It runs the definition the
execution started with (:mod:`.execution_definitions`), and a Map re-runs only the iterations
that did not succeed (:mod:`.map_redrive`).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from local.moto_patches.context_object import set_redrive_count
from local.moto_patches.definitions import program_for
from local.moto_patches.execution_definitions import started_definition
from local.moto_patches.execution_lookup import (
    archived_execution,
    archived_history,
    aws_error,
    live_execution,
    status_text,
)
from local.moto_patches.map_redrive import reuse_iterations, succeeded_iterations
from local.moto_patches.patch_context import executions_lock, moto_module

_REDRIVABLE_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
_REDRIVE_WINDOW = dt.timedelta(days=14)
# A redrive must leave room for its own events under Standard's 25,000-event history limit.
_REDRIVE_MAX_HISTORY_EVENTS = 24_999
_REDRIVE_MAX_COUNT = 1_000
# RedriveExecution is idempotent for the last 10 client tokens of an execution, for 15 minutes.
_REDRIVE_TOKENS_KEPT = 10
_REDRIVE_TOKEN_SECONDS = 15 * 60
_REDRIVE_TOKEN_EXECUTIONS = 1_000
_redrive_lock = threading.Lock()
_redrive_tokens: dict[str, deque[tuple[str, dt.datetime, float]]] = {}


@dataclass(frozen=True)
class RedrivePoint:
    """Where a redrive resumes: a top-level state, and the input it was entered with."""

    state: str
    input: Any


def redrive_point(
    definition: dict[str, Any], history: list[dict[str, Any]], execution_input: Any
) -> RedrivePoint:
    """The top-level state a redrive re-runs, and its input.

    That is the last top-level state entered and never exited since the last redrive: the one
    that failed, timed out or was running when the execution was stopped. A failure inside a
    ``Map`` or ``Parallel`` leaves that ``Map`` or ``Parallel`` unexited, so it is re-run (a
    Map's succeeded iterations are reused, see :mod:`.map_redrive`; a Parallel re-runs whole).
    State names are unique in a whole state machine, so nested states never pass for top-level
    ones. When no state is left open, the last one entered is re-run; with none entered at
    all, the execution restarts from ``StartAt`` with its own input.

    >>> definition = {"StartAt": "A", "States": {"A": {}, "B": {}}}
    >>> history = [
    ...     {"type": "PassStateEntered", "stateEnteredEventDetails": {"name": "A", "input": "1"}},
    ...     {"type": "PassStateExited", "stateExitedEventDetails": {"name": "A"}},
    ...     {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "B", "input": "2"}},
    ...     {"type": "ExecutionFailed"},
    ... ]
    >>> redrive_point(definition, history, 0)
    RedrivePoint(state='B', input=2)
    """
    top_level = set(definition.get("States") or {})
    open_states: list[tuple[str, str | None]] = []
    last_entered: tuple[str, str | None] | None = None
    for event in history:
        kind = str(event.get("type", ""))
        if kind == "ExecutionRedriven":
            open_states.clear()
        elif kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails") or {}
            name = details.get("name")
            if name in top_level:
                last_entered = (str(name), details.get("input"))
                open_states.append(last_entered)
        elif kind.endswith("StateExited"):
            name = (event.get("stateExitedEventDetails") or {}).get("name")
            for index in range(len(open_states) - 1, -1, -1):
                if open_states[index][0] == name:
                    del open_states[index]
                    break
    chosen = open_states[-1] if open_states else last_entered
    if chosen is None:
        return RedrivePoint(str(definition["StartAt"]), execution_input)
    name, raw_input = chosen
    return RedrivePoint(name, execution_input if raw_input is None else json.loads(raw_input))


def redrive_summary(history: list[dict[str, Any]]) -> tuple[int, dt.datetime | None]:
    """How many times the execution was redriven, and when last (from its history)."""
    count = 0
    last: dt.datetime | None = None
    for event in history:
        if event.get("type") == "ExecutionRedriven":
            count += 1
            last = _event_time(event.get("timestamp"))
    return count, last


def _event_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return None


def redrive_fields(
    status: str, machine_type: str, count: int, date: dt.datetime | None
) -> dict[str, Any]:
    """The redrive members of ``DescribeExecution``'s answer."""
    fields: dict[str, Any] = {"redriveCount": count}
    if date is not None:
        fields["redriveDate"] = date
    reason = _not_redrivable_reason(status, machine_type, count)
    if reason is None:
        fields["redriveStatus"] = "REDRIVABLE"
    else:
        fields["redriveStatus"] = "NOT_REDRIVABLE"
        fields["redriveStatusReason"] = reason
    return fields


def list_redrive_fields(count: int, date: dt.datetime | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"redriveCount": count}
    if date is not None:
        fields["redriveDate"] = date
    return fields


def live_redrives(execution: Any) -> tuple[int, dt.datetime | None]:
    redrives: tuple[int, dt.datetime | None] = getattr(execution, "local_redrives", (0, None))
    return redrives


def _not_redrivable_reason(status: str, machine_type: str, count: int) -> str | None:
    if machine_type == "EXPRESS":
        return "Express executions cannot be redriven"
    if status not in _REDRIVABLE_STATUSES:
        return (
            f"Execution is {status}; only FAILED, TIMED_OUT and ABORTED executions can be redriven"
        )
    if count >= _REDRIVE_MAX_COUNT:
        return f"Execution has been redriven {count} times, the most allowed"
    return None


def _not_redrivable(execution_arn: str, reason: str) -> Exception:
    AWSError = moto_module("moto.core.exceptions").AWSError

    error: Exception = AWSError(
        f"Execution '{execution_arn}' cannot be redriven: {reason}",
        exception_type="ExecutionNotRedrivable",
        status=400,
    )
    return error


def _remembered_redrive(execution_arn: str, token: str | None) -> dt.datetime | None:
    if not token:
        return None
    now = time.monotonic()
    for used, date, at in _redrive_tokens.get(execution_arn, ()):
        if used == token and now - at <= _REDRIVE_TOKEN_SECONDS:
            return date
    return None


def _remember_redrive(execution_arn: str, token: str | None, date: dt.datetime) -> None:
    if not token:
        return
    tokens = _redrive_tokens.pop(execution_arn, None) or deque(maxlen=_REDRIVE_TOKENS_KEPT)
    tokens.append((token, date, time.monotonic()))
    _redrive_tokens[execution_arn] = tokens  # re-inserted: the dict stays oldest-first
    while len(_redrive_tokens) > _REDRIVE_TOKEN_EXECUTIONS:
        _redrive_tokens.pop(next(iter(_redrive_tokens)))


@dataclass(frozen=True)
class _Attempt:
    """An ended execution, as the redrive needs it, whether live or archived."""

    arn: str
    name: str
    state_machine_arn: str
    status: str
    start_date: dt.datetime
    input: str
    history: list[dict[str, Any]]
    live: Any | None


def _ended_execution(backend: Any, execution_arn: str) -> _Attempt:
    live = live_execution(backend, execution_arn)
    if live is not None:
        described = live.to_describe_output()
        return _Attempt(
            arn=execution_arn,
            name=str(live.name),
            state_machine_arn=str(described["stateMachineArn"]),
            status=status_text(live.exec_status),
            start_date=live.start_date,
            input=str(described.get("input") or "{}"),
            history=list(live.to_history_output().get("events", [])),
            live=live,
        )
    archived = archived_execution(execution_arn)
    return _Attempt(
        arn=execution_arn,
        name=archived.name,
        state_machine_arn=archived.state_machine_arn,
        status=archived.status,
        start_date=archived.start_date,
        input=archived.input or "{}",
        history=archived_history(execution_arn),
        live=None,
    )


def redrive_execution(backend: Any, execution_arn: str, client_token: str | None = None) -> Any:
    """Redrive ``execution_arn`` on ``backend``; returns the redrive date."""
    with _redrive_lock:
        remembered = _remembered_redrive(execution_arn, client_token)
        if remembered is not None:
            return remembered
        attempt = _ended_execution(backend, execution_arn)
        machine = next(
            (m for m in backend.state_machines if m.arn == attempt.state_machine_arn), None
        )
        if machine is None:
            raise aws_error(
                "StateMachineDoesNotExist",
                f"State Machine Does Not Exist: '{attempt.state_machine_arn}'",
            )
        count, _ = redrive_summary(attempt.history)
        reason = _not_redrivable_reason(attempt.status, str(machine.type), count)
        # Milliseconds, as history timestamps keep them: the date reads the same everywhere.
        now = dt.datetime.now(tz=dt.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if reason is None and now - attempt.start_date > _REDRIVE_WINDOW:
            reason = "it started more than 14 days ago"
        if reason is None and len(attempt.history) >= _REDRIVE_MAX_HISTORY_EVENTS:
            reason = f"its history holds {len(attempt.history)} events"
        if reason is not None:
            raise _not_redrivable(execution_arn, reason)
        definition = json.loads(_definition_of(attempt, machine))
        point = redrive_point(definition, attempt.history, json.loads(attempt.input))
        if (definition["States"].get(point.state) or {}).get("Type") == "Map":
            reused = succeeded_iterations(attempt.history, point.state)
            reuse_iterations(execution_arn, point.state, reused)
        _start_redriven(
            backend,
            machine=machine,
            attempt=attempt,
            definition=definition,
            point=point,
            redrive_count=count + 1,
            redrive_date=now,
        )
        _remember_redrive(execution_arn, client_token, now)
        return now


def _definition_of(attempt: _Attempt, machine: Any) -> str:
    """The definition the execution started with; the machine's current one when no longer
    known (an execution older than this process)."""
    remembered = started_definition(attempt.arn)
    if remembered is not None:
        return remembered
    if attempt.live is not None:
        return str(attempt.live.state_machine.definition)
    return str(machine.definition)


def _start_redriven(
    backend: Any,
    *,
    machine: Any,
    attempt: _Attempt,
    definition: dict[str, Any],
    point: RedrivePoint,
    redrive_count: int,
    redrive_date: dt.datetime,
) -> None:
    """Run ``attempt`` again from ``point``, appending to its history, under its ARN."""
    Execution = moto_module("moto.stepfunctions.parser.backend.execution").Execution
    api = moto_module("moto.stepfunctions.parser.api")
    EventDetails = moto_module("moto.stepfunctions.parser.asl.eval.event.event_detail").EventDetails
    TMP_THREADS = moto_module("moto.stepfunctions.parser.utils").TMP_THREADS

    # A snapshot of the machine for this execution, as moto's start_execution takes one.
    snapshot = copy.deepcopy(
        machine, {id(machine.executions): [], id(machine.backend): machine.backend}
    )
    execution = Execution(
        name=attempt.name,
        sm_type=snapshot.sm_type,
        role_arn=snapshot.roleArn,
        exec_arn=attempt.arn,
        account_id=backend.account_id,
        region_name=backend.region_name,
        state_machine=snapshot,
        start_date=attempt.start_date,
        cloud_watch_logging_session=None,
        activity_store={},
        input_data=attempt.input,
    )
    worker = execution._get_start_execution_worker()
    env = worker._get_evaluation_environment()
    worker.env = env
    execution.exec_worker = worker
    # The old events stay, the new ones are numbered after them.
    events = env.event_manager
    events._history_event_list.extend(copy.deepcopy(attempt.history))
    last_id = max((int(event.get("id", 0)) for event in attempt.history), default=0)
    events._event_id_gen._next_id = last_id + 1
    env.event_history_context.source_event_id = last_id
    env.event_history_context.last_published_event_id = last_id
    events.add_event(
        context=env.event_history_context,
        event_type=api.HistoryEventType.ExecutionRedriven,
        event_details=EventDetails(executionRedrivenEventDetails={"redriveCount": redrive_count}),
        timestamp=redrive_date,
    )
    # $$.Execution.Input stays the execution's input; the state gets the one it had.
    env.states.reset(point.input)
    set_redrive_count(env, redrive_count)
    program = program_for(json.dumps({**definition, "StartAt": point.state}))
    execution.exec_status = api.ExecutionStatus.RUNNING
    execution.local_redrives = (redrive_count, redrive_date)

    def run() -> None:
        program.eval(env)
        worker._execution_communication.terminated()

    # Rebinding (not changing in place) keeps concurrent iterations safe, as archiving does.
    with executions_lock:
        machine.executions = [e for e in machine.executions if e is not attempt.live] + [execution]
    thread = threading.Thread(target=run, name=f"redrive-{attempt.name}", daemon=True)
    TMP_THREADS.append(thread)
    thread.start()


def patch_redrive() -> None:
    ActionResult = moto_module("moto.core.responses").ActionResult
    StepFunctionResponse = moto_module("moto.stepfunctions.responses").StepFunctionResponse

    def redrive(self: Any) -> Any:
        redrive_date = redrive_execution(
            self.stepfunction_backend,
            self._get_param("executionArn"),
            self._get_param("clientToken"),
        )
        return ActionResult({"redriveDate": redrive_date})

    # moto dispatches the action RedriveExecution to a method named redrive_execution.
    StepFunctionResponse.redrive_execution = redrive
