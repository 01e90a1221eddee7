"""Every change the local runtime makes to moto, in one place.

moto (>= 5.2.5) supplies the AWS APIs and, with ``execute_state_machine`` on, an ASL interpreter
derived from LocalStack's. What it lacks for running this stack is patched here, and nowhere else:

1. ``lambda:invoke`` tasks run our Lambda workers instead of needing Docker.
2. ``Wait`` states and ``Retry`` intervals follow a :class:`~local.clock.TimeScale`.
3. DynamoDB writes are serialised, so conditional writes are atomic (stock moto lets two racing
   writers both pass the same condition; dedupe and the breaker's single probe rely on it).
4. Finished executions move to an :class:`~local.execution_archive.ExecutionArchive` (bounded
   memory); ``DescribeExecution``, ``ListExecutions`` and ``GetExecutionHistory`` read both.
5. ``GetExecutionHistory`` honours ``maxResults``, ``nextToken`` and ``reverseOrder``;
   ``ListExecutions`` paginates over live and archived executions alike.
6. ``StartExecution`` validates names as AWS does, names unnamed executions with a UUID, and keeps
   name idempotency across archived executions (``ExecutionAlreadyExists``).
7. ``CreateStateMachine`` rejects a ``Next``/``Default``/``StartAt`` naming a missing state.
8. moto's list of finished interpreter threads is pruned (it otherwise grows forever).
9. Each definition is parsed once: executions get their own copy of the parsed program
   (parsing with ANTLR costs ~9 ms, unpickling a copy ~0.1 ms; sharing one program between
   concurrent executions is unsafe, the interpreter keeps per-execution state on it).
10. Hot paths that moto recomputes on every call are memoised: the list of its service modules
    (an ``os.listdir`` per HTTP request) and JSONPath expressions (jsonpath-ng builds a new yacc
    parser per ``parse``; parsed expressions are immutable, so sharing them is safe).
11. ``RedriveExecution`` (moto has none): a FAILED, TIMED_OUT or ABORTED Standard execution,
    live or archived, re-runs from the top-level state it did not finish (for a failure inside a
    Map or Parallel, that Map or Parallel), with the input that state was entered with, under
    the same execution ARN; the new events follow the old ones in the same history after an
    ``ExecutionRedriven`` event. ``DescribeExecution`` reports ``redriveCount``,
    ``redriveDate`` and ``redriveStatus``; ``ListExecutions`` honours ``redriveFilter`` (its
    items carry ``redriveCount`` for live executions always, for archived ones with the filter:
    only the history knows, and reading every history is the filter's price alone).
12. S3 event notifications carry the whole record S3 sends (``userIdentity``,
    ``requestParameters``, ``responseElements``, the bucket's ``ownerIdentity``, the object's
    ``sequencer`` and ``versionId``), and object keys are URL-encoded as S3 encodes them
    (``/`` kept, a space as ``+``); moto delivers them to SQS in server mode already.
13. Not a patch but a look inside: :func:`visible_sqs_messages` reads a queue's visible count
    in-process, so idle pipe pollers wait without requests (moto's server closes every
    connection: polling an empty queue over HTTP would open and close a socket per poll).

:func:`verify_moto_compatible` fails loudly, naming the missing piece, when a moto upgrade moves
anything these patches rely on; the test suite calls it.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import datetime as dt
import functools
import importlib
import json
import pickle
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote_plus

from local.clock import TimeScale, WaitKind
from local.execution_archive import ArchivedExecution, ExecutionArchive

_EXECUTION_NAME = re.compile(r"^[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]{1,80}$")
_HISTORY_PAGE_MAX = 1000
_HISTORY_PAGE_DEFAULT = 100
_LIST_PAGE_MAX = 1000
_LIST_PAGE_DEFAULT = 100


class InvocationOutcome(Protocol):
    @property
    def payload(self) -> bytes: ...

    @property
    def function_error(self) -> str | None: ...


class LambdaThrottledError(Exception):
    """The function's concurrency is exhausted (Lambda's ``TooManyRequestsException``)."""


class LambdaNotFoundError(Exception):
    """No such function (Lambda's ``ResourceNotFoundException``)."""


LambdaDispatcher = Callable[[str, bytes], InvocationOutcome]


@dataclass
class PatchContext:
    """What the patched code reaches for; set by :func:`install`, read at call time."""

    dispatcher: LambdaDispatcher | None = None
    time_scale: TimeScale | None = None
    archive: ExecutionArchive | None = None


def _moto(module: str) -> Any:
    """A moto module, untyped on purpose: patching internals is outside any published API."""
    return importlib.import_module(module)


_context = PatchContext()
_install_lock = threading.Lock()
_installed = False
_dynamodb_write_lock = threading.RLock()
# Guards every change to a state machine's list of live executions: moto's start appends to
# it, archiving and redriving replace it; unguarded, a replacement could drop an append.
_executions_lock = threading.RLock()


def context() -> PatchContext:
    return _context


def install(
    *,
    dispatcher: LambdaDispatcher,
    time_scale: TimeScale,
    archive: ExecutionArchive,
) -> None:
    """Apply every patch (once per process) and point them at this runtime's parts."""
    global _installed  # noqa: PLW0603 - patches are process-wide by nature
    _context.dispatcher = dispatcher
    _context.time_scale = time_scale
    _context.archive = archive
    with _install_lock:
        if _installed:
            return
        verify_moto_compatible()
        _patch_lambda_invoke()
        _patch_time()
        _patch_dynamodb_atomic_writes()
        _patch_execution_lifecycle()
        _patch_execution_api()
        _patch_definition_validation()
        _patch_program_cache()
        _patch_hot_paths()
        _patch_redrive()
        _patch_s3_event_records()
        _enable_interpreter()
        _installed = True


# --- compatibility guard --------------------------------------------------------------------


def verify_moto_compatible() -> None:
    """Raise ``RuntimeError`` naming each moto internal that these patches need and cannot find."""
    missing: list[str] = []

    def need_fields(module: str, cls: str, *fields: str) -> None:
        # Instance attributes only show in a class's annotations; moto annotates the ones used.
        try:
            owner: Any = getattr(__import__(module, fromlist=["_"]), cls)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{cls}")
            return
        for name in fields:
            annotated = any(name in getattr(k, "__annotations__", {}) for k in owner.__mro__)
            if not annotated and not hasattr(owner, name):
                missing.append(f"{module}.{cls}.{name}")

    def need(module: str, *attributes: str) -> None:
        try:
            target: Any = __import__(module, fromlist=["_"])
        except ImportError:
            missing.append(module)
            return
        for dotted in attributes:
            obj = target
            for part in dotted.split("."):
                if not hasattr(obj, part):
                    missing.append(f"{module}.{dotted}")
                    break
                obj = getattr(obj, part)

    state_task = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
    need(f"{state_task}.lambda_eval_utils", "_invoke_lambda_function")
    need(
        "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl",
        "RetrierDecl._eval_body",
        "RetrierOutcome",
        "MaxAttemptsOutcome",
    )
    need(
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
        "WaitFunction._wait_interval",
    )
    need("moto.dynamodb.models", *(f"DynamoDBBackend.{m}" for m in _DYNAMODB_WRITES))
    need(
        "moto.stepfunctions.parser.backend.execution",
        "BaseExecutionWorkerCommunication.terminated",
        "Execution.to_describe_output",
        "Execution.to_history_output",
        "Execution.to_execution_list_item",
    )
    need(
        "moto.stepfunctions.parser.asl.eval.event.event_manager",
        "EventManager.get_event_history",
    )
    need(
        "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend.start_execution",
        "StepFunctionsParserBackend.create_state_machine",
        "stepfunctions_parser_backends",
    )
    need(
        "moto.stepfunctions.responses",
        "StepFunctionResponse.describe_execution",
        "StepFunctionResponse.list_executions",
        "StepFunctionResponse.get_execution_history",
        "StepFunctionResponse.start_execution",
    )
    need("moto.stepfunctions.parser.utils", "TMP_THREADS")
    need(
        "moto.stepfunctions.parser.backend.execution_worker",
        "ExecutionWorker._get_evaluation_entrypoint",
        "AmazonStateLanguageParser.parse",
    )
    need("moto.core.config", "default_user_config")
    need("moto.backends", "list_of_moto_modules")
    need("moto.stepfunctions.parser.asl.utils.json_path", "parse")
    need("moto.stepfunctions.parser.asl.component.common.path.result_path", "parse")
    # 11. RedriveExecution
    execution = "moto.stepfunctions.parser.backend.execution"
    need(execution, "Execution._get_start_execution_worker", "Execution.to_describe_output")
    need_fields(execution, "Execution", "exec_worker", "exec_status", "start_date", "name")
    execution_worker = "moto.stepfunctions.parser.backend.execution_worker"
    need(execution_worker, "ExecutionWorker._get_evaluation_environment")
    need_fields(execution_worker, "ExecutionWorker", "env", "_execution_communication")
    event_manager = "moto.stepfunctions.parser.asl.eval.event.event_manager"
    need(event_manager, "EventManager.add_event", "EventIdGenerator.get")
    need_fields(event_manager, "EventManager", "_event_id_gen", "_history_event_list")
    need_fields(event_manager, "EventIdGenerator", "_next_id")
    need_fields(event_manager, "EventHistoryContext", "source_event_id", "last_published_event_id")
    need_fields(
        "moto.stepfunctions.parser.asl.eval.environment",
        "Environment",
        "event_manager",
        "event_history_context",
        "states",
    )
    need("moto.stepfunctions.parser.asl.eval.states", "States.reset")
    need("moto.stepfunctions.parser.asl.eval.event.event_detail", "EventDetails")
    need(
        "moto.stepfunctions.parser.api",
        "HistoryEventType.ExecutionRedriven",
        "ExecutionStatus.RUNNING",
    )
    need("moto.core.exceptions", "AWSError")
    # 12. S3 event records
    need("moto.s3.notifications", "_get_s3_event", "send_event")
    # 13. visible SQS messages
    need("moto.sqs.models", "sqs_backends", "SQSBackend.get_queue")
    need("moto.sqs.models", "Queue.approximate_number_of_messages")
    if missing:
        raise RuntimeError(
            "moto no longer has what local/moto_patches.py patches: "
            + ", ".join(missing)
            + ". Pin moto to the version in requirements.txt or update the patches."
        )


# --- 1. Lambda tasks run our workers --------------------------------------------------------


def _client_error(code: str, message: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
        },
        "Invoke",
    )
    return error


def _decode_payload(raw: bytes) -> Any:
    text = raw.decode("utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def invoke_through_dispatcher(function_name: str, payload: bytes) -> dict[str, Any]:
    """Lambda's ``Invoke`` answer for ``function_name``, produced by the registered dispatcher."""
    dispatcher = _context.dispatcher
    if dispatcher is None:
        raise _client_error("ServiceException", "the local Lambda service is not running", 500)
    try:
        outcome = dispatcher(function_name, payload)
    except LambdaThrottledError as error:
        raise _client_error("TooManyRequestsException", str(error), 429) from error
    except LambdaNotFoundError as error:
        raise _client_error("ResourceNotFoundException", str(error), 404) from error
    response: dict[str, Any] = {
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "Payload": _decode_payload(outcome.payload),
    }
    if outcome.function_error:
        response["FunctionError"] = outcome.function_error
    return response


def _patch_lambda_invoke() -> None:
    lambda_eval_utils = _moto(
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
    )

    def invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        payload = parameters.get("Payload") or b"{}"
        if isinstance(payload, str):
            payload = payload.encode()
        return invoke_through_dispatcher(str(parameters["FunctionName"]), payload)

    lambda_eval_utils._invoke_lambda_function = invoke


# --- 2. waits follow the time scale ---------------------------------------------------------


def _execution_arn(env: Any) -> str:
    return str(env.states.context_object.context_object_data["Execution"]["Id"])


def _state_name(env: Any) -> str:
    state = env.states.context_object.context_object_data.get("State") or {}
    return str(state.get("Name", "?"))


def _patch_time() -> None:
    retrier_decl = _moto("moto.stepfunctions.parser.asl.component.common.retry.retrier_decl")
    wait_function = _moto(
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function"
    )

    def wait_interval(self: Any, env: Any, wait_seconds: float) -> None:
        scale = _context.time_scale or TimeScale()
        sleep = scale.record(
            _execution_arn(env), _state_name(env), WaitKind.WAIT_STATE, wait_seconds
        )
        if sleep > 0:
            # The event is set when the execution is stopped, which must cut the wait short.
            env.program_state_event.wait(sleep)

    wait_function.WaitFunction._wait_interval = wait_interval

    def retrier_body(self: Any, env: Any) -> None:
        # moto's own body, with time.sleep replaced by the scaled, recorded wait.
        self.error_equals.eval(env)
        if not env.stack.pop():
            env.stack.append(retrier_decl.RetrierOutcome.Skipped)
            return
        self.max_attempts.eval(env=env)
        if env.stack.pop() == retrier_decl.MaxAttemptsOutcome.EXHAUSTED:
            env.stack.append(retrier_decl.RetrierOutcome.Failed)
            return
        self.interval_seconds.eval(env=env)
        self.backoff_rate.eval(env=env)
        self.max_delay_seconds.eval(env=env)
        self.jitter_strategy.eval(env=env)
        interval_seconds: float = env.stack.pop()
        scale = _context.time_scale or TimeScale()
        sleep = scale.record(
            _execution_arn(env), _state_name(env), WaitKind.RETRY, interval_seconds
        )
        if sleep > 0:
            env.program_state_event.wait(sleep)
        env.stack.append(retrier_decl.RetrierOutcome.Executed)

    retrier_decl.RetrierDecl._eval_body = retrier_body


# --- 3. atomic DynamoDB writes --------------------------------------------------------------

_DYNAMODB_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)


def _patch_dynamodb_atomic_writes() -> None:
    DynamoDBBackend = _moto("moto.dynamodb.models").DynamoDBBackend

    for method_name in _DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, method_name)

        def serialised(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _dynamodb_write_lock:
                return __original(*args, **kwargs)

        functools.update_wrapper(serialised, original)
        setattr(DynamoDBBackend, method_name, serialised)


# --- 4. finished executions leave memory for the archive ------------------------------------


def _archive_execution(execution: Any) -> None:
    archive = _context.archive
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
            with _executions_lock:
                machine.executions = [e for e in machine.executions if e is not execution]
    _prune_finished_threads()


def _prune_finished_threads() -> None:
    TMP_THREADS = _moto("moto.stepfunctions.parser.utils").TMP_THREADS

    TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]


def _parser_backend(account_id: str, region: str) -> Any:
    stepfunctions_parser_backends = _moto(
        "moto.stepfunctions.parser.models"
    ).stepfunctions_parser_backends

    return stepfunctions_parser_backends[account_id][region]


def _patch_execution_lifecycle() -> None:
    BaseExecutionWorkerCommunication = _moto(
        "moto.stepfunctions.parser.backend.execution"
    ).BaseExecutionWorkerCommunication

    original = BaseExecutionWorkerCommunication.terminated

    def terminated(self: Any) -> None:
        original(self)
        _archive_execution(self.execution)

    BaseExecutionWorkerCommunication.terminated = terminated


# --- 5, 6. the execution API over live and archived executions ------------------------------


def _aws_error(code: str, message: str) -> Exception:
    exceptions = _moto("moto.stepfunctions.exceptions")

    error: Exception = getattr(exceptions, code)(message)
    return error


def _live_execution(backend: Any, execution_arn: str) -> Any | None:
    for machine in backend.state_machines:
        for execution in machine.executions:
            if execution.exec_arn == execution_arn:
                return execution
    return None


def _encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (ValueError, KeyError, TypeError) as error:
        raise _aws_error("InvalidToken", f"Invalid token: {token!r}") from error
    if offset < 0:
        raise _aws_error("InvalidToken", f"Invalid token: {token!r}")
    return offset


def _page_size(raw: int | None, default: int, maximum: int) -> int:
    if raw is None or raw == 0:
        return default
    return max(1, min(int(raw), maximum))


def _patch_execution_api() -> None:
    ActionResult = _moto("moto.core.responses").ActionResult
    StepFunctionsParserBackend = _moto(
        "moto.stepfunctions.parser.models"
    ).StepFunctionsParserBackend
    StepFunctionResponse = _moto("moto.stepfunctions.responses").StepFunctionResponse

    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        name = name or str(uuid.uuid4())
        if not _EXECUTION_NAME.match(name):
            raise _aws_error("InvalidName", f"Invalid Name: '{name}'")
        archive = _context.archive
        if archive is not None:
            finished = archive.find_by_name(state_machine_arn, name)
            if finished is not None:
                raise _aws_error(
                    "ExecutionAlreadyExists",
                    f"Execution Already Exists: '{finished.execution_arn}'",
                )
        # moto appends the new execution to the machine's list inside: see _executions_lock.
        with _executions_lock:
            return original_start(self, state_machine_arn, name, execution_input, trace_header)

    StepFunctionsParserBackend.start_execution = start_execution

    def describe_execution(self: Any) -> Any:
        execution_arn = self._get_param("executionArn")
        backend = self.stepfunction_backend
        live = _live_execution(backend, execution_arn)
        if live is not None:
            answer = dict(live.to_describe_output())
            count, date = _live_redrives(live)
        else:
            archived = _context.archive.get(execution_arn) if _context.archive else None
            if archived is None:
                raise _aws_error(
                    "ExecutionDoesNotExist", f"Execution Does Not Exist: '{execution_arn}'"
                )
            answer = archived.describe()
            count, date = redrive_summary(_archived_history(execution_arn))
        machine_type = _machine_type(backend, str(answer["stateMachineArn"]))
        answer.update(redrive_fields(_status_text(answer["status"]), machine_type, count, date))
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
            item.update(_list_redrive_fields(*_live_redrives(execution)))
            items.append(item)
        if _context.archive is not None:
            live_arns = {item["executionArn"] for item in items}
            for archived in _context.archive.list(state_machine_arn, status_filter):
                if archived.execution_arn in live_arns:
                    continue
                item = archived.list_item()
                if redrive_filter is not None:
                    # Reading every history is the price of the filter, so only it pays it.
                    summary = redrive_summary(_archived_history(archived.execution_arn))
                    item.update(_list_redrive_fields(*summary))
                items.append(item)
        if redrive_filter is not None:
            redriven = redrive_filter == "REDRIVEN"
            items = [item for item in items if (item.get("redriveCount", 0) > 0) == redriven]
        items.sort(key=lambda item: item["startDate"], reverse=True)
        offset = _decode_token(self._get_param("nextToken"))
        size = _page_size(self._get_int_param("maxResults"), _LIST_PAGE_DEFAULT, _LIST_PAGE_MAX)
        page: dict[str, Any] = {"executions": items[offset : offset + size]}
        if offset + size < len(items):
            page["nextToken"] = _encode_token(offset + size)
        return ActionResult(page)

    def get_execution_history(self: Any) -> Any:
        execution_arn = self._get_param("executionArn")
        live = _live_execution(self.stepfunction_backend, execution_arn)
        if live is not None:
            events = list(live.to_history_output().get("events", []))
        else:
            archived = _context.archive.history(execution_arn) if _context.archive else None
            if archived is None:
                raise _aws_error(
                    "ExecutionDoesNotExist", f"Execution Does Not Exist: '{execution_arn}'"
                )
            events = archived
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


def _status_text(status: Any) -> str:
    return str(getattr(status, "value", status))


def _archived_history(execution_arn: str) -> list[dict[str, Any]]:
    archive = _context.archive
    history = archive.history(execution_arn) if archive is not None else None
    return history or []


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


# --- 7. definitions that name missing states are rejected -----------------------------------


def dangling_transitions(definition: dict[str, Any]) -> list[str]:
    """Every ``StartAt``/``Next``/``Default`` that names a state missing from its scope."""
    problems: list[str] = []

    def check_scope(scope: dict[str, Any], where: str) -> None:
        states: dict[str, Any] = scope.get("States") or {}
        start = scope.get("StartAt")
        if start not in states:
            problems.append(f"{where}StartAt names missing state {start!r}")
        for state_name, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [choice.get("Next") for choice in state.get("Choices", [])]
            targets += [catcher.get("Next") for catcher in state.get("Catch", [])]
            for target in targets:
                if target is not None and target not in states:
                    problems.append(
                        f"{where}{state_name!r} transitions to missing state {target!r}"
                    )
            for branch_index, branch in enumerate(state.get("Branches", [])):
                check_scope(branch, f"{where}{state_name!r} branch {branch_index}: ")
            processor = state.get("ItemProcessor") or state.get("Iterator")
            if processor:
                check_scope(processor, f"{where}{state_name!r} item processor: ")

    check_scope(definition, "")
    return problems


def _invalid_definition(message: str) -> Exception:
    # moto's own InvalidDefinition sets ``code`` where its serialiser reads ``TYPE``, so clients
    # saw an empty error code; this one carries the name boto3 and the AWS CLI match on.
    AWSError = _moto("moto.core.exceptions").AWSError

    error: Exception = AWSError(message, exception_type="InvalidDefinition", status=400)
    return error


def _patch_definition_validation() -> None:
    MotoInvalidDefinition = _moto("moto.stepfunctions.parser.api").InvalidDefinition
    StepFunctionsParserBackend = _moto(
        "moto.stepfunctions.parser.models"
    ).StepFunctionsParserBackend

    original = StepFunctionsParserBackend._validate_definition

    def validate(definition: str) -> None:
        try:
            original(definition=definition)
        except MotoInvalidDefinition as error:
            raise _invalid_definition(str(error.message)) from error
        try:
            parsed = json.loads(definition)
        except json.JSONDecodeError:
            return  # moto's own check has already reported it
        problems = dangling_transitions(parsed) if isinstance(parsed, dict) else []
        if problems:
            raise _invalid_definition("; ".join(problems))

    StepFunctionsParserBackend._validate_definition = staticmethod(validate)


# --- 9. parse once per definition -----------------------------------------------------------

_PROGRAM_CACHE_SIZE = 64


# Pickled, because loading a pickle is 5-10x faster than deep-copying the parsed program
# (0.4 ms against 3.7 ms for the ingest workflow) and gives each execution its own copy.
_programs: dict[str, bytes] = {}
_programs_lock = threading.Lock()


def _program_for(definition: str) -> Any:
    """A private copy of the parsed program of ``definition``; each definition is parsed once."""
    with _programs_lock:
        blob = _programs.get(definition)
    if blob is None:
        parser = _moto("moto.stepfunctions.parser.backend.execution_worker")
        program = parser.AmazonStateLanguageParser.parse(definition)[0]
        blob = pickle.dumps(program, protocol=pickle.HIGHEST_PROTOCOL)
        with _programs_lock:
            if len(_programs) >= _PROGRAM_CACHE_SIZE:
                _programs.pop(next(iter(_programs)))
            _programs[definition] = blob
    return pickle.loads(blob)


def _patch_program_cache() -> None:
    execution_worker = _moto("moto.stepfunctions.parser.backend.execution_worker")

    def entrypoint(self: Any) -> Any:
        return _program_for(self._evaluation_details.state_machine_details.definition)

    execution_worker.ExecutionWorker._get_evaluation_entrypoint = entrypoint


# --- 10. memoised hot paths -------------------------------------------------------------------


def _patch_hot_paths() -> None:
    backends = _moto("moto.backends")
    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: modules

    for module in (
        "moto.stepfunctions.parser.asl.utils.json_path",
        "moto.stepfunctions.parser.asl.component.common.path.result_path",
    ):
        with_parse = _moto(module)
        with_parse.parse = functools.lru_cache(maxsize=4096)(with_parse.parse)


# --- 11. RedriveExecution -------------------------------------------------------------------

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
    ``Map`` or ``Parallel`` leaves that ``Map`` or ``Parallel`` unexited, so it is re-run whole
    (AWS re-runs only the failed iterations or branches; the rest is the same work again).
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


def _list_redrive_fields(count: int, date: dt.datetime | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"redriveCount": count}
    if date is not None:
        fields["redriveDate"] = date
    return fields


def _live_redrives(execution: Any) -> tuple[int, dt.datetime | None]:
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
    AWSError = _moto("moto.core.exceptions").AWSError

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
    live = _live_execution(backend, execution_arn)
    if live is not None:
        described = live.to_describe_output()
        return _Attempt(
            arn=execution_arn,
            name=str(live.name),
            state_machine_arn=str(described["stateMachineArn"]),
            status=_status_text(live.exec_status),
            start_date=live.start_date,
            input=str(described.get("input") or "{}"),
            history=list(live.to_history_output().get("events", [])),
            live=live,
        )
    archived = _context.archive.get(execution_arn) if _context.archive else None
    if archived is None:
        raise _aws_error("ExecutionDoesNotExist", f"Execution Does Not Exist: '{execution_arn}'")
    return _Attempt(
        arn=execution_arn,
        name=archived.name,
        state_machine_arn=archived.state_machine_arn,
        status=archived.status,
        start_date=archived.start_date,
        input=archived.input or "{}",
        history=_archived_history(execution_arn),
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
            raise _aws_error(
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
        # The definition the machine holds now: moto keeps no copy per execution (archived
        # executions have only their ARN), so an update between failure and redrive shows.
        definition = json.loads(machine.definition)
        point = redrive_point(definition, attempt.history, json.loads(attempt.input))
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
    Execution = _moto("moto.stepfunctions.parser.backend.execution").Execution
    api = _moto("moto.stepfunctions.parser.api")
    EventDetails = _moto("moto.stepfunctions.parser.asl.eval.event.event_detail").EventDetails
    TMP_THREADS = _moto("moto.stepfunctions.parser.utils").TMP_THREADS

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
    program = _program_for(json.dumps({**definition, "StartAt": point.state}))
    execution.exec_status = api.ExecutionStatus.RUNNING
    execution.local_redrives = (redrive_count, redrive_date)

    def run() -> None:
        program.eval(env)
        worker._execution_communication.terminated()

    # Rebinding (not changing in place) keeps concurrent iterations safe, as archiving does.
    with _executions_lock:
        machine.executions = [e for e in machine.executions if e is not attempt.live] + [execution]
    thread = threading.Thread(target=run, name=f"redrive-{attempt.name}", daemon=True)
    TMP_THREADS.append(thread)
    thread.start()


def _patch_redrive() -> None:
    ActionResult = _moto("moto.core.responses").ActionResult
    StepFunctionResponse = _moto("moto.stepfunctions.responses").StepFunctionResponse

    def redrive(self: Any) -> Any:
        redrive_date = redrive_execution(
            self.stepfunction_backend,
            self._get_param("executionArn"),
            self._get_param("clientToken"),
        )
        return ActionResult({"redriveDate": redrive_date})

    # moto dispatches the action RedriveExecution to a method named redrive_execution.
    StepFunctionResponse.redrive_execution = redrive


# --- 12. S3 event records as S3 sends them --------------------------------------------------

_LOCAL_PRINCIPAL = "AWS:AIDALOCALSTEPFLOW0000"
_sequencer_lock = threading.Lock()
_last_sequencer = 0


def _next_sequencer() -> str:
    """Increasing hex strings, as S3's ``sequencer`` orders events of one key."""
    global _last_sequencer  # noqa: PLW0603 - one sequence per process, like one S3 endpoint
    with _sequencer_lock:
        _last_sequencer = max(_last_sequencer + 1, time.time_ns())
        return f"{_last_sequencer:018X}"


def complete_s3_record(
    record: dict[str, Any], key_name: str, version_id: str | None = None
) -> dict[str, Any]:
    """``record`` (moto's S3 event record) with every field S3 puts in one, in S3's order."""
    s3 = dict(record.get("s3") or {})
    bucket = dict(s3.get("bucket") or {})
    obj = dict(s3.get("object") or {})
    obj["key"] = quote_plus(key_name, safe="/")
    if version_id:
        obj["versionId"] = version_id
    obj.setdefault("sequencer", _next_sequencer())
    return {
        "eventVersion": record.get("eventVersion", "2.1"),
        "eventSource": record.get("eventSource", "aws:s3"),
        "awsRegion": record.get("awsRegion"),
        "eventTime": record.get("eventTime"),
        "eventName": record.get("eventName"),
        "userIdentity": {"principalId": _LOCAL_PRINCIPAL},
        "requestParameters": {"sourceIPAddress": "127.0.0.1"},
        "responseElements": {
            "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            "x-amz-id-2": base64.b64encode(uuid.uuid4().bytes * 2).decode(),
        },
        "s3": {
            "s3SchemaVersion": s3.get("s3SchemaVersion", "1.0"),
            "configurationId": s3.get("configurationId"),
            "bucket": {
                "name": bucket.get("name"),
                "ownerIdentity": {"principalId": _LOCAL_PRINCIPAL.removeprefix("AWS:")},
                "arn": bucket.get("arn"),
            },
            "object": obj,
        },
    }


def _patch_s3_event_records() -> None:
    notifications = _moto("moto.s3.notifications")
    original = notifications._get_s3_event

    def get_s3_event(event_name: str, bucket: Any, key: Any, notification_id: str) -> Any:
        event = original(event_name, bucket, key, notification_id)
        versioned = bool(getattr(bucket, "is_versioned", False))
        version_id = str(key.version_id) if versioned and getattr(key, "version_id", None) else None
        event["Records"] = [
            complete_s3_record(record, str(key.name), version_id) for record in event["Records"]
        ]
        return event

    notifications._get_s3_event = get_s3_event


# --- 13. what an idle pipe waits on ---------------------------------------------------------


def visible_sqs_messages(account_id: str, region: str, queue_name: str) -> int:
    """How many messages ``ReceiveMessage`` would see in the queue now (moto's own count)."""
    sqs_backends = _moto("moto.sqs.models").sqs_backends
    queue = sqs_backends[account_id][region].get_queue(queue_name)
    return int(queue.approximate_number_of_messages)


# --- the interpreter itself -----------------------------------------------------------------


def _enable_interpreter() -> None:
    default_user_config = _moto("moto.core.config").default_user_config

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
