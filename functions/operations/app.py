"""The operations API: routes for operators, on Powertools, beside the public API.

| route                                         | answers            |
|-----------------------------------------------|--------------------|
| ``GET /ops/queues``                           | 200, 503           |
| ``POST /ops/queues/{queueName}/redrive``      | 202, 400, 404, 409 |
| ``GET /ops/queues/{queueName}/redrive``       | 200, 404           |
| ``POST /ops/queues/{queueName}/redrive/cancel`` | 200, 400, 404, 409 |
| ``GET /ops/executions``                       | 200, 400           |
| ``POST /ops/executions/redrive``              | 200, 400           |
| ``GET /ops/breaker``                          | 200                |
| ``POST /ops/breaker``                         | 200, 400, 409      |
| ``POST /ops/replay``                          | 200, 400, 404, 409 |
| ``GET /ops/health``                           | 200                |
| ``GET /ops/openapi.json``, ``GET /docs``      | 200 (public)       |

Every ``/ops`` route needs operator (IAM) credentials; the description says so per route. The
module builds no client and reads no environment: ``handler.py`` does and calls
:func:`configure`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Final, Literal, TypeVar

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Path as PathParameter
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from functions._shared.errors import ConfigurationError
from functions._shared.scaffold import Scaffold
from functions.operations import schemas
from functions.operations.breaker import (
    BreakerChangedError,
    BreakerClock,
    BreakerStore,
    breaker_view,
    manual_change,
)
from functions.operations.executions import (
    PARKED,
    ExecutionService,
    RedriveRequest,
    list_executions,
    redrive_executions,
)
from functions.operations.health import HealthProbes, health_report
from functions.operations.queues import (
    QueueService,
    RedriveInProgressError,
    RedriveLedger,
    UnknownQueueError,
    queue_report,
    redrive_target,
    start_redrive,
)
from functions.operations.replay import (
    ARCHIVE_KEY_PATTERN,
    Archive,
    BundleMissingError,
    Downstream,
    ReplayRefusedError,
    replay_bundle,
)

JSON: Final = "application/json"
CIRCUIT_ID: Final = "downstream"
QUEUE_NAME_PATTERN: Final = r"^[A-Za-z0-9_-]{1,80}$"
_SWAGGER_UI: Final = Path(__file__).parent / "swagger_ui"
_ASSETS: Final = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui-standalone-preset.js": "application/javascript",
    "swagger-ui.css": "text/css",
}

scaffold = Scaffold(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
logger, metrics = scaffold.logger, scaffold.metrics
app = APIGatewayHttpResolver(enable_validation=True)


class OperationsError(Exception):
    """An answer other than success: a status and a message (and the fields at fault)."""

    def __init__(self, status: int, message: str, errors: list[dict[str, str]] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors or []


@dataclass(frozen=True)
class Operations:
    """What the routes need from outside; built once per cold start by ``handler.py``."""

    queues: Mapping[str, str]
    sqs: QueueService
    ledger: RedriveLedger
    executions: ExecutionService
    workflows: Mapping[str, str]
    breaker: BreakerStore
    clock: BreakerClock
    cooldown_seconds: int
    probe_stale_seconds: int
    health: HealthProbes
    archive: Archive
    downstream: Downstream
    max_dlq_redrives: int
    redrive_parked: Callable[[str], str]
    """Start the redrive of parked work under an execution name; its ARN."""


_operations: Operations | None = None


def configure(operations: Operations) -> None:
    global _operations  # noqa: PLW0603 - one composition root per process, set once
    _operations = operations


def operations() -> Operations:
    if _operations is None:
        raise ConfigurationError("functions.operations.app.configure() was not called")
    return _operations


# --- Request bodies ----------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RedriveQueueBody(_Body):
    max_messages_per_second: int | None = Field(
        default=None, alias="maxMessagesPerSecond", ge=1, le=500
    )


class CancelBody(_Body):
    task_handle: str = Field(alias="taskHandle", min_length=1, max_length=2048)


class RedriveExecutionsBody(_Body):
    workflow: str | None = Field(default=None, max_length=80)
    status: Literal["FAILED", "PARKED"] | None = None
    reason: str | None = Field(default=None, max_length=1000)
    execution_arns: list[str] | None = Field(default=None, alias="executionArns", max_length=1000)
    max_concurrency: int = Field(default=4, alias="maxConcurrency", ge=1, le=20)


class BreakerBody(_Body):
    state: Literal["open", "closed"]
    reason: str = Field(min_length=1, max_length=1000)


class ReplayBody(_Body):
    archive_key: str = Field(alias="archiveKey", pattern=ARCHIVE_KEY_PATTERN)


ModelT = TypeVar("ModelT", bound=BaseModel)


def _body(model: type[ModelT]) -> ModelT:
    event = app.current_event
    raw = event.decoded_body if event.body else None
    if raw is None or not raw.strip():
        raw = "{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        errors = [
            {
                "field": ".".join(str(part) for part in detail["loc"]) or "$",
                "reason": str(detail["msg"]),
            }
            for detail in error.errors(include_url=False)
        ]
        raise OperationsError(400, "invalid request body", errors) from None


QueueName = Annotated[
    str, PathParameter(pattern=QUEUE_NAME_PATTERN, description="The queue's physical name.")
]


def _responses(ok: int, description: str, model: type[BaseModel], *errors: int) -> Any:
    answers: dict[int, Any] = {
        ok: {"description": description, "content": {JSON: {"model": model}}}
    }
    for status in errors:
        answers[status] = {
            "description": schemas.ERROR_DESCRIPTIONS[status],
            "content": {JSON: {"model": schemas.ErrorBody}},
        }
    return answers


# --- Queues ------------------------------------------------------------------------------------


@app.get(
    "/ops/queues",
    summary="Queues and dead-letter queues",
    description="Every queue of the stack with its dead-letter queue: visible, in flight, "
    "delayed, and the age of the oldest message (CloudWatch; null when it has none).",
    tags=["operations"],
    responses=_responses(200, "The queues.", schemas.QueueList),
)
def get_queues() -> Response[Any]:
    current = operations()
    return _json(200, queue_report(current.queues, current.sqs))


@app.post(
    "/ops/queues/<queueName>/redrive",
    summary="Redrive a dead-letter queue",
    description="Sets aside (with its history) every message that came back from the "
    "dead-letter queue more than the stack's limit, then moves the rest back to the queue "
    "with SQS's StartMessageMoveTask.",
    tags=["operations"],
    responses=_responses(202, "The move task started.", schemas.RedriveStarted, 400, 404, 409),
)
def post_queue_redrive(queueName: QueueName) -> Response[Any]:  # noqa: N803
    body = _body(RedriveQueueBody)
    current = operations()
    target = _target(queueName)
    started = start_redrive(
        target,
        current.sqs,
        current.ledger,
        max_redrives=current.max_dlq_redrives,
        rate=body.max_messages_per_second,
        now=dt.datetime.now(dt.UTC).isoformat(),
    )
    metrics.add_metric(name="DlqRedrives", unit=MetricUnit.Count, value=1)
    if started.set_aside:
        metrics.add_metric(
            name="MessagesSetAside", unit=MetricUnit.Count, value=len(started.set_aside)
        )
    logger.info("Dead-letter queue redrive started", extra=started.to_payload())
    return _json(202, started.to_payload())


@app.get(
    "/ops/queues/<queueName>/redrive",
    summary="Redrives of a dead-letter queue",
    description="SQS's ListMessageMoveTasks for the queue's dead-letter queue, newest first, "
    "with AWS's field names.",
    tags=["operations"],
    responses=_responses(200, "The move tasks.", schemas.MoveTaskList, 400, 404),
)
def get_queue_redrives(queueName: QueueName) -> Response[Any]:  # noqa: N803
    target = _target(queueName)
    return _json(200, {"tasks": operations().sqs.list_moves(target.dead_letter_arn)})


@app.post(
    "/ops/queues/<queueName>/redrive/cancel",
    summary="Cancel a redrive",
    tags=["operations"],
    responses=_responses(200, "The task is cancelling.", schemas.CancelAnswer, 400, 404, 409),
)
def post_queue_redrive_cancel(queueName: QueueName) -> Response[Any]:  # noqa: N803
    body = _body(CancelBody)
    _target(queueName)
    moved = operations().sqs.cancel_move(body.task_handle)
    return _json(200, {"taskHandle": body.task_handle, "approximateNumberOfMessagesMoved": moved})


def _target(queue: str) -> Any:
    current = operations()
    try:
        return redrive_target(current.queues, queue, current.sqs)
    except UnknownQueueError as error:
        raise OperationsError(404, str(error)) from None


# --- Executions --------------------------------------------------------------------------------


@app.get(
    "/ops/executions",
    summary="Failed and parked executions",
    description="FAILED, TIMED_OUT and ABORTED executions of the stack's workflows with their "
    "reasons; PARKED are those the workflow parked at delivery (redrive them once the "
    "downstream is back).",
    tags=["operations"],
    responses=_responses(200, "The executions, newest first.", schemas.ExecutionList, 400),
)
def get_executions(
    status: Annotated[Literal["FAILED", "PARKED"] | None, Query()] = None,
    workflow: Annotated[str | None, Query(max_length=80)] = None,
) -> Response[Any]:
    current = operations()
    _known_workflow(workflow)
    listed = list_executions(
        current.workflows, current.executions, status=status, workflow=workflow
    )
    return _json(200, {"executions": listed})


@app.post(
    "/ops/executions/redrive",
    summary="Redrive failed and parked executions",
    description="Redrives the listed executions, or every failed one matching `workflow` and "
    "`status`, at most `maxConcurrency` at a time. Idempotent: what is not redrivable now is "
    "skipped with the reason.",
    tags=["operations"],
    responses=_responses(200, "The report.", schemas.RedriveReport, 400),
)
def post_executions_redrive() -> Response[Any]:
    body = _body(RedriveExecutionsBody)
    _known_workflow(body.workflow)
    current = operations()
    request = RedriveRequest(
        workflow=body.workflow,
        status=body.status,
        execution_arns=tuple(body.execution_arns or ()),
        max_concurrency=body.max_concurrency,
        reason=body.reason,
    )
    report = redrive_executions(current.workflows, current.executions, request)
    _count_redrives(report)
    logger.info("Executions redriven", extra={"operatorReason": body.reason, **report})
    return _json(200, report)


def _known_workflow(workflow: str | None) -> None:
    known = operations().workflows
    if workflow is not None and workflow not in known:
        raise OperationsError(
            400,
            f"unknown workflow {workflow[:80]!r}",
            [{"field": "workflow", "reason": f"must be one of {', '.join(sorted(known))}"}],
        )


def _count_redrives(report: Mapping[str, Any]) -> None:
    metrics.add_metric(
        name="ExecutionsRedriven", unit=MetricUnit.Count, value=len(report["redriven"])
    )
    if report["failed"]:
        metrics.add_metric(name="RedriveErrors", unit=MetricUnit.Count, value=len(report["failed"]))


def redrive_parked(reason: str) -> dict[str, Any]:
    """Redrive every parked execution (the breaker closed); what the workflow calls."""
    current = operations()
    report = redrive_executions(
        current.workflows, current.executions, RedriveRequest(status=PARKED, reason=reason)
    )
    _count_redrives(report)
    logger.info("Parked executions redriven", extra={"operatorReason": reason, **report})
    return report


# --- Breaker -----------------------------------------------------------------------------------


@app.get(
    "/ops/breaker",
    summary="The circuit breaker",
    tags=["operations"],
    responses=_responses(200, "Its state, failures, probe times and history.", schemas.Breaker),
)
def get_breaker() -> Response[Any]:
    return _json(200, _breaker_view())


def _breaker_view() -> dict[str, Any]:
    current = operations()
    return breaker_view(
        current.breaker.read(CIRCUIT_ID),
        current.clock,
        cooldown_seconds=current.cooldown_seconds,
        probe_stale_seconds=current.probe_stale_seconds,
    )


@app.post(
    "/ops/breaker",
    summary="Open or close the breaker by hand",
    description="Records the change with its reason. Closing also redrives the parked "
    "executions, as an automatic close does.",
    tags=["operations"],
    responses=_responses(200, "The breaker after the change.", schemas.Breaker, 400, 409),
)
def post_breaker() -> Response[Any]:
    body = _body(BreakerBody)
    current = operations()
    seen = current.breaker.read(CIRCUIT_ID)
    changed = manual_change(
        seen, body.state, body.reason, current.clock, now=dt.datetime.now(dt.UTC), actor=_caller()
    )
    if not current.breaker.write_manual(seen, changed):
        raise BreakerChangedError("the breaker changed meanwhile; read it and try again")
    logger.warning(
        "Breaker set by hand", extra={"state": body.state, "operatorReason": body.reason}
    )
    if body.state == "closed":
        current.redrive_parked(f"manual-close-{changed.version}")
    return _json(200, _breaker_view())


def _caller() -> str | None:
    try:
        iam = app.current_event.request_context.authorizer.iam
        return str(iam.user_arn) if iam and iam.user_arn else None
    except (AttributeError, KeyError, TypeError):
        return None


# --- Replay and health -------------------------------------------------------------------------


@app.post(
    "/ops/replay",
    summary="Re-deliver an archived bundle",
    description="POSTs the bundle under its original Idempotency-Key (its sha256), so a "
    "receiver that lost it stores it again and one that kept it sees a duplicate. Only while "
    "the breaker is closed.",
    tags=["operations"],
    responses=_responses(200, "The downstream's answer.", schemas.ReplayAnswer, 400, 404, 409),
)
def post_replay() -> Response[Any]:
    body = _body(ReplayBody)
    current = operations()
    answer = replay_bundle(
        body.archive_key,
        current.archive,
        current.downstream,
        breaker_state=_breaker_view()["state"],
    )
    metrics.add_metric(name="BundlesReplayed", unit=MetricUnit.Count, value=1)
    logger.info("Bundle replayed", extra=answer)
    return _json(200, answer)


@app.get(
    "/ops/health",
    summary="Health of what the pipeline depends on",
    tags=["operations"],
    responses=_responses(200, "ok, or degraded naming the part.", schemas.Health),
)
def get_health() -> Response[Any]:
    return _json(200, health_report(operations().health), {"Cache-Control": "no-store"})


# --- Documentation -----------------------------------------------------------------------------


@app.get("/ops/openapi.json", include_in_schema=False)
def openapi_document() -> Response[Any]:
    from functions.operations.openapi import document

    return _json(200, document(app))


@app.get("/docs", include_in_schema=False)
def swagger_ui() -> Response[Any]:
    page = (_SWAGGER_UI / "index.html").read_text(encoding="utf-8")
    return Response(200, "text/html; charset=utf-8", page, {"Cache-Control": "no-cache"})


@app.get("/docs/<asset>", include_in_schema=False)
def swagger_asset(asset: str) -> Response[Any]:
    content_type = _ASSETS.get(asset)
    if content_type is None:
        raise OperationsError(404, f"no asset {asset[:80]!r}")
    text = (_SWAGGER_UI / asset).read_text(encoding="utf-8")
    return Response(200, content_type, text, {"Cache-Control": "public, max-age=86400"})


# --- Errors ------------------------------------------------------------------------------------


def _refused(error: OperationsError) -> Response[Any]:
    logger.info("Request refused", extra={"status": error.status, "reason": error.message})
    return _json(error.status, {"message": error.message, "errors": error.errors})


def _conflict(error: Exception) -> Response[Any]:
    return _refused(OperationsError(409, str(error)))


def _missing(error: Exception) -> Response[Any]:
    return _refused(OperationsError(404, str(error)))


def _invalid_parameters(error: RequestValidationError) -> Response[Any]:
    errors = [
        {"field": ".".join(str(p) for p in d.get("loc", ())) or "$", "reason": str(d.get("msg"))}
        for d in error.errors()
    ]
    return _refused(OperationsError(400, "invalid request parameters", errors))


_CLIENT_ERRORS: Final = {
    "InvalidParameterValue": 400,
    "AWS.SimpleQueueService.InvalidParameterValue": 400,
    "ResourceNotFoundException": 404,
    "AWS.SimpleQueueService.NonExistentQueue": 404,
    "UnsupportedOperation": 409,
    "AWS.SimpleQueueService.UnsupportedOperation": 409,
}


def _aws_refused(error: ClientError) -> Response[Any]:
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = _CLIENT_ERRORS.get(code)
    if status is None:
        return _unexpected(error)
    message = str(error.response.get("Error", {}).get("Message", code))
    return _refused(OperationsError(status, message))


def _no_route(error: NotFoundError) -> Response[Any]:
    event = app.current_event
    return _refused(OperationsError(404, f"no route for {event.http_method} {event.path[:200]}"))


def _unexpected(error: Exception) -> Response[Any]:
    logger.exception("Unexpected error; answered 500")
    metrics.add_metric(name="OperationsErrors", unit=MetricUnit.Count, value=1)
    return _json(500, {"message": "internal error; the details are logged", "errors": []})


app.exception_handler(OperationsError)(_refused)
app.exception_handler(RequestValidationError)(_invalid_parameters)
app.exception_handler([RedriveInProgressError, ReplayRefusedError, BreakerChangedError])(_conflict)
app.exception_handler(BundleMissingError)(_missing)
app.exception_handler(ClientError)(_aws_refused)
app.not_found(_no_route)
app.exception_handler(Exception)(_unexpected)


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(body, default=str),
        headers=dict(headers or {}),
    )
