"""The HTTP API: routes, their error answers and the OpenAPI description, on Powertools.

On AWS this is an API Gateway HTTP API with a Lambda proxy integration (payload format 2.0);
locally the front door turns HTTP requests into the same events. Either way, what these routes
answer is what the client gets.

| route                                                  | answers                                |
|--------------------------------------------------------|----------------------------------------|
| ``POST /events``                                       | 202, 400, 409, 413, 415, 422, 503      |
| ``POST /events/bulk``                                  | 202, 400, 409, 413, 415, 422, 503      |
| ``GET /events/{trackingId}``                           | 200, 400, 404, 503                     |
| ``POST /catalogs/{catalogId}/enrichments``             | 202, 400, 403, 409, 413, 415, 422, 503 |
| ``GET /catalogs/{catalogId}/enrichments/{trackingId}`` | 200, 400, 404, 503                     |
| ``GET /users/{userId}/enrichments``                    | 200, 400, 403, 503                     |
| ``GET /health``                                        | 200                                    |
| ``GET /openapi.json``                                  | 200                                    |
| anything else                                          | 404 (405 + ``Allow`` for a known path) |

Bad input is always a 4xx naming what is wrong and starts nothing; an unexpected failure is a
500 without internals (the details are logged).

The module builds no AWS client and reads no environment: ``handler.py`` does, at cold start,
and hands the result to :func:`configure`. The ``Allow`` header of a 405 is derived from the
routes registered here (:func:`allowed_methods`), so it cannot drift from them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Final, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit

from functions._shared.enrichment import CATALOG_ID_PATTERN, USER_ID_PATTERN
from functions._shared.errors import ConfigurationError
from functions._shared.scaffold import Scaffold
from functions.api.body import read_json_body
from functions.api.caller import caller_identity, token_subject
from functions.api.core import (
    QUEUED,
    TRACKING_ID_PATTERN,
    ApiSettings,
    MessageSender,
    StatusReader,
    StatusRecorder,
    WorkflowStarter,
    bulk_events,
    new_tracking_id,
    prepare_submission,
    queue_ingest,
    read_status,
    require_valid,
    single_event,
    start_ingest,
)
from functions.api.enrichments import (
    DEFAULT_LIST_LIMIT,
    MAX_LIST_LIMIT,
    MAX_NEXT_TOKEN_LENGTH,
    EnrichmentReader,
    EnrichmentRecorder,
    list_enrichments,
    new_enrichment_tracking_id,
    parse_enrichment_request,
    prepare_enrichment,
    read_progress,
    start_enrichment,
)
from functions.api.errors import (
    RETRY_AFTER_SECONDS,
    ApiError,
    DependencyUnavailableError,
    field_error,
)
from functions.api.openapi import document
from functions.api.schemas import (
    AcceptedResponse,
    EnrichmentAccepted,
    EnrichmentList,
    EnrichmentProgress,
    ErrorResponse,
    HealthResponse,
    InternalErrorResponse,
    StatusRecord,
)

JSON: Final = "application/json"
IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN: Final = r"^[\x21-\x7e]{1,255}$"
REPLAYED_HEADER: Final = "Idempotent-Replayed"

# No failure table: every error becomes an HTTP answer (the handlers below, and handler.py's 500).
scaffold = Scaffold(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
logger, metrics = scaffold.logger, scaffold.metrics

app = APIGatewayHttpResolver(enable_validation=True)


class StatusTableLike(StatusRecorder, StatusReader, Protocol):
    """The status table as the API uses it: two writes, and reads."""


class EnrichmentTableLike(EnrichmentRecorder, EnrichmentReader, Protocol):
    """The enrichment table as the API uses it: the summary rows it writes, and reads."""


class IdempotencyGateLike(Protocol):
    def run(
        self, key: str, body: Any, operation: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]: ...


@dataclass(frozen=True)
class Services:
    """What the routes need from outside; built once per cold start by ``handler.py``."""

    settings: ApiSettings
    starter: WorkflowStarter | None
    statuses: StatusTableLike
    idempotency: IdempotencyGateLike
    enrich_starter: WorkflowStarter
    enrichments: EnrichmentTableLike
    queue: MessageSender | None = None
    """The ingest queue, which queued intake sends requests to instead of starting executions."""


_services: Services | None = None


def configure(services: Services) -> None:
    """Give the routes their settings and adapters (``handler.py`` calls it at cold start)."""
    global _services  # noqa: PLW0603 - one composition root per process, set once
    _services = services


def services() -> Services:
    if _services is None:
        raise ConfigurationError("functions.api.app.configure() was not called")
    return _services


# --- Parameters --------------------------------------------------------------------------------

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=IDEMPOTENCY_KEY_HEADER,
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Optional. A retried POST with the same key and body starts nothing new "
        "and answers the first request's ids (for 24 hours); the same key with another body "
        "answers 422. 1-255 visible ASCII characters, e.g. a UUID.",
    ),
]
TrackingIdParameter = Annotated[
    str,
    Path(
        pattern=TRACKING_ID_PATTERN,
        description="The tracking id a POST answered (or a queue batch's `sqs-...` id).",
    ),
]

CatalogIdParameter = Annotated[
    str,
    Path(
        pattern=CATALOG_ID_PATTERN,
        description="The catalog: 1-128 letters, digits, '.', '_' or '-', starting with a letter "
        "or digit.",
    ),
]
EnrichmentTrackingIdParameter = Annotated[
    str,
    Path(
        pattern=TRACKING_ID_PATTERN,
        description="The tracking id that `POST /catalogs/{catalogId}/enrichments` answered.",
    ),
]
UserIdParameter = Annotated[
    str,
    Path(
        pattern=USER_ID_PATTERN,
        description="The user the enrichments were posted for (their `userId`).",
    ),
]
ListLimit = Annotated[
    int,
    Query(ge=1, le=MAX_LIST_LIMIT, description=f"Enrichments per page, 1 to {MAX_LIST_LIMIT}."),
]
NextToken = Annotated[
    str | None,
    Query(
        alias="nextToken",
        max_length=MAX_NEXT_TOKEN_LENGTH,
        description="The `nextToken` of the previous page, unchanged; omit it for the first page.",
    ),
]

_PARAMETER_RULES: Final = {
    "path.trackingId": "must be 1-256 letters, digits, '.', '_', ':' or '-', starting with a "
    "letter or digit",
    "path.catalogId": "must be 1-128 letters, digits, '.', '_' or '-', starting with a letter "
    "or digit",
    "path.userId": "must be 1-128 letters, digits, '.', '_', '@', ':', '+' or '-', starting "
    "with a letter or digit",
    "query.limit": f"must be a whole number from 1 to {MAX_LIST_LIMIT}",
    "query.nextToken": "is not a token this API answered",
    f"header.{IDEMPOTENCY_KEY_HEADER}": "must be 1-255 visible ASCII characters (no spaces)",
}
_MALFORMED_PARAMETER_MESSAGES: Final = {
    frozenset({"path.trackingId"}): "malformed tracking id",
    frozenset({"path.catalogId"}): "malformed catalog id",
    frozenset({"path.userId"}): "malformed user id",
}


# --- Responses for the OpenAPI document --------------------------------------------------------


def _documented(status: int, description: str, model: type[Any] = ErrorResponse) -> Any:
    return {status: {"description": description, "content": {JSON: {"model": model}}}}


_CATALOG_POST_RESPONSES: Final = {
    **_documented(202, "The enrich workflow was started.", EnrichmentAccepted),
    **_documented(
        400,
        "Nothing was started or written: a malformed catalog id, no products, a "
        "product without an identifier, duplicate products, more products than accepted inline "
        "(post a productsPointer), both products and productsPointer, or a body that is not "
        "JSON (every problem is named).",
    ),
    **_documented(
        403,
        "The body names a userId that is not the signed-in user's, or a productsPointer "
        "outside their upload prefix (the same answer whether the object exists or not).",
    ),
    **_documented(409, "A request with this Idempotency-Key is still running; retry shortly."),
    **_documented(
        413, "The products do not fit one execution (262,144 bytes); post a productsPointer."
    ),
    **_documented(415, "The body is not application/json (UTF-8)."),
    **_documented(422, "This Idempotency-Key was used before with another body."),
    **_documented(503, "AWS is unavailable; retry after Retry-After seconds, same key."),
}

_POST_RESPONSES: Final = {
    **_documented(
        202,
        "The events were queued for the ingest workflow (or, per request, it was started).",
        AcceptedResponse,
    ),
    **_documented(
        400,
        "Nothing was started: no body, not JSON, nested too deeply, not valid UTF-8, the wrong "
        "shape, too many or no events, or invalid events (every wrong field is named).",
    ),
    **_documented(409, "A request with this Idempotency-Key is still running; retry shortly."),
    **_documented(
        413,
        "The events do not fit one request (204,800 bytes queued, 262,144 per request); "
        "split them.",
    ),
    **_documented(415, "The body is not application/json (UTF-8)."),
    **_documented(422, "This Idempotency-Key was used before with another body."),
    **_documented(503, "AWS is unavailable; retry after Retry-After seconds, same key."),
}


# --- Routes ------------------------------------------------------------------------------------


@app.post(
    "/events",
    summary="Submit one event",
    description="Validates the event with the ingest workflow's own rules, then queues it for "
    "the ingest workflow (answered once the queue holds it) and answers a tracking id; with "
    "intake `per-request`, starts the workflow and answers its execution ARN too.",
    tags=["events"],
    responses=_POST_RESPONSES,
)
def post_event(idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    body = _request_json()
    return _submit(single_event(body), body, "POST /events", idempotency_key)


@app.post(
    "/events/bulk",
    summary="Submit a batch of events",
    description="A JSON array of 1 to MAX_BULK_EVENTS events, judged together: one invalid "
    "event refuses the whole request (400) and starts nothing.",
    tags=["events"],
    responses=_POST_RESPONSES,
)
def post_events_bulk(idempotency_key: IdempotencyKey = None) -> Response[dict[str, Any]]:
    body = _request_json()
    events = bulk_events(body, services().settings.max_bulk_events)
    return _submit(events, body, "POST /events/bulk", idempotency_key)


@app.get(
    "/events/<trackingId>",
    summary="Follow submitted events",
    description="The status record of a tracking id: status, counts, rejected events with "
    "their reasons, duplicates, the archive key and the history of statuses.",
    tags=["events"],
    responses={
        **_documented(200, "The status record.", StatusRecord),
        **_documented(400, "The tracking id is malformed."),
        **_documented(404, "No such tracking id."),
        **_documented(503, "The status table is unavailable; retry after Retry-After seconds."),
    },
)
def get_status(trackingId: TrackingIdParameter) -> Response[dict[str, Any]]:  # noqa: N803
    record = read_status(trackingId, services().statuses)
    return _json(200, record, {"Cache-Control": "no-store"})


@app.post(
    "/catalogs/<catalogId>/enrichments",
    summary="Enrich a catalog",
    description="Checks the catalog (each product has exactly one of `asin` or `ean`, no "
    "duplicates, at most MAX_INLINE_PRODUCTS inline; a larger catalog is an NDJSON object in S3 "
    "posted as `productsPointer`), records it RECEIVED and starts the enrich workflow, which "
    "enriches it in batches of `batchSize` products.",
    tags=["enrichments"],
    responses=_CATALOG_POST_RESPONSES,
)
def post_enrichment(
    catalogId: CatalogIdParameter,  # noqa: N803
    idempotency_key: IdempotencyKey = None,
) -> Response[dict[str, Any]]:
    current = services()
    body = _request_json()
    request = parse_enrichment_request(
        catalogId,
        body,
        owner=token_subject(app.current_event.raw_event),
        staging_bucket=current.settings.staging_bucket,
        max_inline_products=current.settings.max_inline_products,
        default_batch_size=current.settings.enrich_batch_size,
    )
    submission = prepare_enrichment(request, new_enrichment_tracking_id())

    def start() -> dict[str, Any]:
        return start_enrichment(
            submission, current.enrich_starter, current.enrichments, datetime.now(UTC)
        )

    route = f"POST /catalogs/{catalogId}/enrichments"
    if idempotency_key is None:
        accepted, replayed = start(), False
    else:
        accepted, replayed = current.idempotency.run(_scoped(route, idempotency_key), body, start)

    tracking_id = accepted["trackingId"]
    logger.append_keys(trackingId=tracking_id, catalogId=catalogId)
    if replayed:
        metrics.add_metric(name="IdempotentReplays", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="EnrichmentsStarted", unit=MetricUnit.Count, value=1)
    logger.info(
        "Enrichment accepted",
        extra={
            "totalProducts": accepted.get("totalProducts"),
            "pointer": request.pointer is not None,
            "replayed": replayed,
        },
    )
    headers = {"Location": f"/catalogs/{catalogId}/enrichments/{tracking_id}"}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return _json(202, accepted, headers)


@app.get(
    "/catalogs/<catalogId>/enrichments/<trackingId>",
    summary="Follow an enrichment",
    description="Status and progress of an enrichment, counted from the batches recorded so "
    "far (read consistently: the counts never go backwards), with the first 100 failures.",
    tags=["enrichments"],
    responses={
        **_documented(200, "The enrichment's progress.", EnrichmentProgress),
        **_documented(400, "The catalog id or tracking id is malformed."),
        **_documented(
            404, "The catalog has no enrichment with this tracking id, or it is not yours."
        ),
        **_documented(503, "The table is unavailable; retry after Retry-After seconds."),
    },
)
def get_enrichment(
    catalogId: CatalogIdParameter,  # noqa: N803
    trackingId: EnrichmentTrackingIdParameter,  # noqa: N803
) -> Response[dict[str, Any]]:
    owner = token_subject(app.current_event.raw_event)
    progress = read_progress(catalogId, trackingId, services().enrichments, owner=owner)
    return _json(200, progress, {"Cache-Control": "no-store"})


@app.get(
    "/users/<userId>/enrichments",
    summary="List a user's enrichments",
    description="The user's enrichments, newest first, a page at a time: pass the answer's "
    "`nextToken` to get the next page (there is none after the last).",
    tags=["enrichments"],
    responses={
        **_documented(200, "A page of enrichments.", EnrichmentList),
        **_documented(400, "The user id, limit or nextToken is malformed."),
        **_documented(403, "The user id is not the signed-in user's."),
        **_documented(503, "The table is unavailable; retry after Retry-After seconds."),
    },
)
def get_user_enrichments(
    userId: UserIdParameter,  # noqa: N803
    limit: ListLimit = DEFAULT_LIST_LIMIT,
    next_token: NextToken = None,
) -> Response[dict[str, Any]]:
    owner = token_subject(app.current_event.raw_event)
    page = list_enrichments(userId, limit, next_token, services().enrichments, owner=owner)
    return _json(200, page, {"Cache-Control": "no-store"})


@app.get(
    "/health",
    summary="Liveness",
    tags=["operations"],
    responses=_documented(200, "The API answers.", HealthResponse),
)
def health() -> Response[dict[str, Any]]:
    return _json(200, {"status": "ok"})


@app.get("/openapi.json", include_in_schema=False)
def openapi_document() -> Response[dict[str, Any]]:
    settings = _services.settings if _services is not None else None
    return _json(
        200,
        document(
            app,
            max_bulk_events=settings.max_bulk_events if settings else None,
            max_inline_products=settings.max_inline_products if settings else None,
        ),
    )


def _scoped(route: str, key: str) -> str:
    # One caller's Idempotency-Key never replays another caller's answer.
    return f"{caller_identity(app.current_event.raw_event)}#{route}#{key}"


def _request_json() -> Any:
    event = app.current_event
    return read_json_body(event.headers, event.body, bool(event.is_base64_encoded))


def _submit(events: list[Any], body: Any, route: str, key: str | None) -> Response[Any]:
    current = services()
    require_valid(events)
    settings = current.settings
    submission = prepare_submission(
        events, new_tracking_id(), settings.max_bulk_events, settings.max_request_bytes
    )

    def start() -> dict[str, Any]:
        now = datetime.now(UTC)
        if settings.intake == QUEUED:
            if current.queue is None:
                raise ConfigurationError("queued intake without an ingest queue")
            return queue_ingest(submission, current.queue, current.statuses, now)
        if current.starter is None:
            raise ConfigurationError("per-request intake without an ingest state machine")
        return start_ingest(submission, current.starter, current.statuses, now)

    if key is None:
        ids, replayed = start(), False
    else:
        ids, replayed = current.idempotency.run(_scoped(route, key), body, start)

    tracking_id = ids["trackingId"]
    logger.append_keys(trackingId=tracking_id)
    if replayed:
        metrics.add_metric(name="IdempotentReplays", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=len(events))
    logger.info("Events accepted", extra={"count": len(events), "replayed": replayed})
    headers = {"Location": f"/events/{tracking_id}"}
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return _json(202, ids, headers)


# --- Errors ------------------------------------------------------------------------------------


def _refused(error: ApiError) -> Response[Any]:
    metrics.add_metric(name="RequestsRefused", unit=MetricUnit.Count, value=1)
    logger.info(
        "Request refused",
        extra={"status": error.status, "reason": error.message, "fields": _fields(error.errors)},
    )
    return _json(error.status, error.body(), error.headers)


def _invalid_parameters(error: RequestValidationError) -> Response[Any]:
    errors = [_parameter_error(detail) for detail in error.errors()]
    fields = {entry["field"] for entry in errors}
    message = _MALFORMED_PARAMETER_MESSAGES.get(frozenset(fields)) or (
        "invalid request parameters: " + ", ".join(sorted(fields))
    )
    return _refused(ApiError(400, message, errors))


def _unavailable(error: DependencyUnavailableError) -> Response[Any]:
    metrics.add_metric(name="DependencyFailures", unit=MetricUnit.Count, value=1)
    logger.exception("A dependency failed; answered 503")
    return _json(
        503,
        {
            "message": "the service is temporarily unavailable; retry in a few seconds "
            f"(with the same {IDEMPOTENCY_KEY_HEADER}, so nothing starts twice)",
            "errors": [],
        },
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _no_route(error: NotFoundError) -> Response[Any]:
    method = app.current_event.http_method.upper()
    path = app.current_event.path
    allowed = allowed_methods(path)
    if allowed:
        return _refused(
            ApiError(
                405,
                f"{method} is not allowed on {path}; use {', '.join(allowed)}",
                headers={"Allow": ", ".join(allowed)},
            )
        )
    return _refused(ApiError(404, f"no route for {method} {path[:200]}"))


def _unexpected(error: Exception) -> Response[Any]:
    logger.exception("Unexpected error; answered 500")
    return _json(500, internal_error_body(_request_id()))


app.exception_handler(ApiError)(_refused)
app.exception_handler(RequestValidationError)(_invalid_parameters)
app.exception_handler(DependencyUnavailableError)(_unavailable)
app.not_found(_no_route)
# The most general handler: Powertools picks the most specific class registered.
app.exception_handler(Exception)(_unexpected)


def internal_error_body(request_id: str | None) -> dict[str, Any]:
    """The body of a 500: no internals, only what lets an operator find the logged details."""
    return InternalErrorResponse(
        message="internal error; the details are logged under this request id",
        request_id=request_id,
    ).model_dump(by_alias=True)


_PATH_PARAMETER: Final = re.compile(r"<[^>]+>")


def registered_routes() -> list[tuple[str, str]]:
    """``(method, path)`` of every route of :data:`app`, paths as registered (``/a/<id>``).

    Powertools keeps its routes in two private lists and has no public way to list them; the
    version is pinned, and ``tests/conformance`` compares this with the stack's routes.
    """
    routes = app._static_routes + app._dynamic_routes
    return sorted((route.method.upper(), route.path) for route in routes)


def allowed_methods(path: str) -> list[str]:
    """The methods some route answers on ``path``: a request with another one is a 405.

    >>> allowed_methods("/events/bulk"), allowed_methods("/nowhere")
    (['GET', 'POST'], [])
    """
    return sorted(
        {method for method, route in registered_routes() if _route_pattern(route).fullmatch(path)}
    )


@cache
def _route_pattern(route: str) -> re.Pattern[str]:
    # A path parameter is one non-empty segment, as API Gateway matches ``{name}``.
    literal_parts = _PATH_PARAMETER.split(route)
    return re.compile("[^/]+".join(re.escape(part) for part in literal_parts))


def _parameter_error(detail: Mapping[str, Any]) -> dict[str, Any]:
    location = [str(part) for part in detail.get("loc", ())]
    if len(location) >= 2 and location[0] == "header":
        name = "-".join(word.capitalize() for word in location[1].split("-"))
        field = f"header.{name}"
    else:
        field = ".".join(location) or "$"
    reason = _PARAMETER_RULES.get(field) or str(detail.get("msg", "is invalid"))
    if detail.get("type") == "missing":
        reason = "is required"
    return field_error(field, reason)


def _fields(errors: list[dict[str, Any]]) -> list[str]:
    return sorted({str(entry.get("field")) for entry in errors})[:20]


def _request_id() -> str | None:
    try:
        return str(app.current_event.request_context.request_id)
    except (AttributeError, KeyError, TypeError):
        return None


def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> Response[Any]:
    return Response(status_code=status, content_type=JSON, body=body, headers=dict(headers or {}))
