"""Patches 4 to 6 and 8: executions over their whole life.

4. Finished executions move to an :class:`~local.execution_archive.ExecutionArchive` (bounded
   memory); ``DescribeExecution``, ``ListExecutions`` and ``GetExecutionHistory`` read both.
5. ``GetExecutionHistory`` honours ``maxResults``, ``nextToken`` and ``reverseOrder``;
   ``ListExecutions`` paginates over live and archived executions alike, never listing one
   twice (its token is a position in the order, not an offset: see :func:`_list_position`).
6. ``StartExecution`` validates names as AWS does, names unnamed executions with a UUID, and
   keeps name idempotency across archived executions (``ExecutionAlreadyExists``).
8. moto's list of finished interpreter threads is pruned (it otherwise grows forever).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import uuid
from typing import Any

from local.execution_archive import ArchivedExecution
from local.moto_patches.execution_definitions import remember_definition
from local.moto_patches.execution_input import check_execution_input
from local.moto_patches.execution_lookup import (
    archived_events,
    archived_execution,
    archived_history,
    aws_error,
    live_execution,
    status_text,
)
from local.moto_patches.patch_context import context, executions_lock, moto_module
from local.moto_patches.redrive import (
    list_redrive_fields,
    live_redrives,
    redrive_fields,
    redrive_summary,
)

_EXECUTION_NAME = re.compile(r"^[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$")
_HISTORY_PAGE_MAX = 1000
_HISTORY_PAGE_DEFAULT = 100
_LIST_PAGE_MAX = 1000
_LIST_PAGE_DEFAULT = 100
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MILLISECOND = dt.timedelta(milliseconds=1)


def _archive_execution(execution: Any) -> None:
    archive = context().archive
    if archive is None:
        return
    described = execution.to_describe_output()
    # The execution has ended, nothing appends to its history any more: read it without the
    # deep copy that ``to_history_output`` makes (the largest single cost of archiving).
    history = list(execution.exec_worker.env.event_manager._history_event_list)
    archive.put(
        ArchivedExecution(
            execution_arn=execution.exec_arn,
            state_machine_arn=described["stateMachineArn"],
            name=execution.name,
            status=str(getattr(execution.exec_status, "value", execution.exec_status)),
            start_date=execution.start_date,
            stop_date=execution.stop_date,
            input=described.get("input"),
            output=described.get("output"),
            error=described.get("error"),
            cause=described.get("cause"),
        ),
        history,
    )
    backend = _parser_backend(execution.account_id, execution.region_name)
    for machine in backend.state_machines:
        if machine.arn == described["stateMachineArn"]:
            # Rebinding (not removing in place) keeps concurrent iterations safe; the lock keeps
            # a concurrent start or redrive from adding to the list this one replaces.
            with executions_lock:
                machine.executions = [e for e in machine.executions if e is not execution]
    _prune_finished_threads()


def _prune_finished_threads() -> None:
    TMP_THREADS = moto_module("moto.stepfunctions.parser.utils").TMP_THREADS

    TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]


def _parser_backend(account_id: str, region: str) -> Any:
    stepfunctions_parser_backends = moto_module(
        "moto.stepfunctions.parser.models"
    ).stepfunctions_parser_backends

    return stepfunctions_parser_backends[account_id][region]


def patch_execution_lifecycle() -> None:
    BaseExecutionWorkerCommunication = moto_module(
        "moto.stepfunctions.parser.backend.execution"
    ).BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original(self)
        # A synchronous Express execution is answered, not kept (AWS lists none of them).
        if not getattr(self.execution, "local_unlisted", False):
            _archive_execution(self.execution)

    BaseExecutionWorkerCommunication.terminated = terminated


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as error:
        raise aws_error("InvalidToken", f"Invalid token: {token!r}") from error
    if offset < 0:
        raise aws_error("InvalidToken", f"Invalid token: {token!r}")
    return offset


ListPosition = tuple[int, str]
"""Where an item sits in the ``ListExecutions`` order: start (ms since the epoch) and ARN."""


def _list_position(item: dict[str, Any]) -> ListPosition:
    """An item's place in the newest-first order, the same whether it is live or archived.

    An offset token repeats an execution when the list changes between pages (a start pushes
    every item one place down; a finish with a status filter adds one): the next page resumes
    after the last item listed instead, so a start, a finish or a move to the archive cannot
    bring an item back. Milliseconds are the precision the API shows (and survive the archive's
    float round trip); the ARN breaks ties between executions started in the same one.
    """
    start: dt.datetime = item["startDate"]
    if start.tzinfo is None:
        start = start.replace(tzinfo=dt.UTC)
    return (start - _EPOCH) // _MILLISECOND, str(item["executionArn"])


def _encode_position(position: ListPosition) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": list(position)}).encode()).decode()


def _decode_position(token: str) -> ListPosition:
    try:
        start, arn = json.loads(base64.urlsafe_b64decode(token.encode()))["after"]
    except (ValueError, KeyError, TypeError) as error:
        raise aws_error("InvalidToken", f"Invalid token: {token!r}") from error
    if not isinstance(start, int) or isinstance(start, bool) or not isinstance(arn, str):
        raise aws_error("InvalidToken", f"Invalid token: {token!r}")
    return start, arn


def _page_size(raw: int | None, default: int, maximum: int) -> int:
    if raw is None or raw == 0:
        return default
    return max(1, min(int(raw), maximum))


def patch_execution_api() -> None:
    ActionResult = moto_module("moto.core.responses").ActionResult
    StepFunctionsParserBackend = moto_module(
        "moto.stepfunctions.parser.models"
    ).StepFunctionsParserBackend
    StepFunctionResponse = moto_module("moto.stepfunctions.responses").StepFunctionResponse

    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        check_execution_input(execution_input)
        name = name or str(uuid.uuid4())
        if not _EXECUTION_NAME.match(name):
            raise aws_error("InvalidName", f"Invalid Name: '{name}'")
        archive = context().archive
        if archive is not None:
            finished = archive.find_by_name(state_machine_arn, name)
            if finished is not None:
                raise aws_error(
                    "ExecutionAlreadyExists",
                    f"Execution Already Exists: '{finished.execution_arn}'",
                )
        # moto appends the new execution to the machine's list inside: see executions_lock.
        with executions_lock:
            execution = original_start(self, state_machine_arn, name, execution_input, trace_header)
        remember_definition(execution.exec_arn, execution.state_machine.definition)
        return execution

    StepFunctionsParserBackend.start_execution = start_execution

    def describe_execution(self: Any) -> Any:
        execution_arn = self._get_param("executionArn")
        backend = self.stepfunction_backend
        live = live_execution(backend, execution_arn)
        if live is not None:
            answer = dict(live.to_describe_output())
            count, date = live_redrives(live)
        else:
            answer = archived_execution(execution_arn).describe()
            count, date = redrive_summary(archived_history(execution_arn))
        machine_type = _machine_type(backend, str(answer["stateMachineArn"]))
        answer.update(redrive_fields(status_text(answer["status"]), machine_type, count, date))
        return ActionResult(answer)

    def list_executions(self: Any) -> Any:
        state_machine_arn = self._get_param("stateMachineArn")
        status_filter = self._get_param("statusFilter")
        redrive_filter = self._get_param("redriveFilter")
        backend = self.stepfunction_backend
        machine = backend.describe_state_machine(state_machine_arn)
        items: list[dict[str, Any]] = []
        for execution in list(machine.executions):
            if status_filter is not None and execution.status != status_filter:
                continue
            item = dict(execution.to_execution_list_item())
            item.update(list_redrive_fields(*live_redrives(execution)))
            items.append(item)
        archive = context().archive
        if archive is not None:
            live_arns = {item["executionArn"] for item in items}
            for archived in archive.list(state_machine_arn, status_filter):
                if archived.execution_arn in live_arns:
                    continue
                item = archived.list_item()
                if redrive_filter is not None:
                    # Reading every history is the price of the filter, so only it pays it.
                    summary = redrive_summary(archived_history(archived.execution_arn))
                    item.update(list_redrive_fields(*summary))
                items.append(item)
        if redrive_filter is not None:
            redriven = redrive_filter == "REDRIVEN"
            items = [item for item in items if (item.get("redriveCount", 0) > 0) == redriven]
        items.sort(key=_list_position, reverse=True)
        token = self._get_param("nextToken")
        if token:
            after = _decode_position(token)
            items = [item for item in items if _list_position(item) < after]
        size = _page_size(self._get_int_param("maxResults"), _LIST_PAGE_DEFAULT, _LIST_PAGE_MAX)
        page: dict[str, Any] = {"executions": items[:size]}
        if len(items) > size:
            page["nextToken"] = _encode_position(_list_position(items[size - 1]))
        return ActionResult(page)

    def get_execution_history(self: Any) -> Any:
        execution_arn = self._get_param("executionArn")
        live = live_execution(self.stepfunction_backend, execution_arn)
        if live is not None:
            events = list(live.to_history_output().get("events", []))
        else:
            events = archived_events(execution_arn)
        if self._get_bool_param("reverseOrder", False):
            events.reverse()
        if self._get_bool_param("includeExecutionData", True) is False:
            events = [_without_execution_data(event) for event in events]
        offset = _decode_token(self._get_param("nextToken"))
        size = _page_size(
            self._get_int_param("maxResults"), _HISTORY_PAGE_DEFAULT, _HISTORY_PAGE_MAX
        )
        page: dict[str, Any] = {"events": events[offset : offset + size]}
        if offset + size < len(events):
            page["nextToken"] = _encode_token(offset + size)
        return ActionResult(page)

    StepFunctionResponse.describe_execution = describe_execution
    StepFunctionResponse.list_executions = list_executions
    StepFunctionResponse.get_execution_history = get_execution_history


def _machine_type(backend: Any, state_machine_arn: str) -> str:
    for machine in backend.state_machines:
        if machine.arn == state_machine_arn:
            return str(machine.type)
    return "STANDARD"


def _without_execution_data(event: dict[str, Any]) -> dict[str, Any]:
    stripped: dict[str, Any] = {}
    for key, value in event.items():
        if isinstance(value, dict):
            stripped[key] = {
                k: v for k, v in value.items() if k not in ("input", "output", "parameters")
            }
        else:
            stripped[key] = value
    return stripped
