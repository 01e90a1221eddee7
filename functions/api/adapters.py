"""The AWS side of the API: Step Functions, the ingest queue, the status and enrichment tables
and Powertools Idempotency.

boto3, botocore and the idempotency utility (which imports boto3) are imported on first use:
requests that never reach AWS (health, the OpenAPI document, every bad request) do not pay for
them at cold start. Every failure of AWS becomes :class:`DependencyUnavailableError` (a 503).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, cast

from functions._shared import names
from functions._shared.clients import LazyClient
from functions._shared.enrichment import (
    BATCH_INDEX_ATTRIBUTE,
    SUMMARY_RANKS,
    TRACKING_ID_ATTRIBUTE,
    EnrichmentStatus,
    batch_id_prefix,
    public_row,
    summary_id,
)
from functions._shared.errors import TransientDependencyError
from functions._shared.status import (
    RANK_ATTRIBUTE,
    STATUS_RANKS,
    Status,
    forward_only,
    public_record,
)
from functions.api.core import API_SOURCE
from functions.api.enrichments import EnrichmentSubmission
from functions.api.errors import ApiError, DependencyUnavailableError

IDEMPOTENCY_EXPIRY_SECONDS: Final = 86_400
"""How long a retried POST with the same ``Idempotency-Key`` answers the first one's ids."""

IDEMPOTENCY_KEY_PREFIX: Final = "api-ingest"
"""Stable prefix of the idempotency records' ids, whatever the function is called."""

_MAX_KEY_SHOWN: Final = 64


@contextmanager
def unavailable_on_aws_errors(action: str) -> Iterator[None]:
    """Re-raise what boto3 raises (and ``TransientDependencyError``) as a 503's error.

    A malformed request to AWS (``ParamValidationError``) is a bug, not an outage: it passes.
    """
    try:
        yield
    except TransientDependencyError as error:
        raise DependencyUnavailableError(f"{action} failed: {error}") from error
    except Exception as error:
        from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

        if isinstance(error, ParamValidationError) or not isinstance(
            error, BotoCoreError | ClientError
        ):
            raise
        raise DependencyUnavailableError(f"{action} failed: {_describe(error)}") from error


def _describe(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(error).__name__


class StepFunctionsStarter:
    """:class:`~functions.api.core.WorkflowStarter` on one state machine.

    Example::

        starter = StepFunctionsStarter("arn:aws:states:...:stateMachine:stepflow-dev-ingest")
        execution_arn = starter.start("trk-1", '{"trackingId": "trk-1", "events": []}')
    """

    client = LazyClient("stepfunctions")

    def __init__(
        self, state_machine_arn: str, client: Any | None = None, workflow: str = "ingest"
    ) -> None:
        self.state_machine_arn = state_machine_arn
        self.workflow = workflow
        self._client = client

    def start(self, name: str, execution_input: str) -> str:
        with unavailable_on_aws_errors(f"start of the {self.workflow} workflow for {name}"):
            response = self.client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=execution_input
            )
        return str(response["executionArn"])


class IngestQueue:
    """:class:`~functions.api.core.MessageSender` on the ingest queue (queued intake).

    Example::

        queue = IngestQueue("https://sqs.us-east-1.amazonaws.com/123456789012/stepflow-dev-ingest")
        queue.send("trk-1", '{"trackingId": "trk-1", "source": "api", "events": [...]}')
    """

    client = LazyClient("sqs")

    def __init__(self, queue_url: str, client: Any | None = None) -> None:
        self.queue_url = queue_url
        self._client = client

    def send(self, tracking_id: str, body: str) -> None:
        # One request, one message: core keeps it under the queue's (and validate's) size limit.
        with unavailable_on_aws_errors(f"send of {tracking_id} to the ingest queue"):
            self.client.send_message(QueueUrl=self.queue_url, MessageBody=body)


class StatusTable:
    """The status table as the API uses it: :class:`~functions.api.core.StatusRecorder` and
    :class:`~functions.api.core.StatusReader`.

    The items are update_status's: the same attributes, ranks and history, so the workflow's
    later writes move the record forward from RECEIVED exactly as if update_status had made it
    (``tests/unit/test_api_adapters.py`` compares the two writers' items).

    Example::

        table = StatusTable("stepflow-dev-status")
        table.record_received("trk-1", 4, "2024-03-02T09:15:00Z")
        table.read("trk-1")["status"]  # "RECEIVED"
    """

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def record_received(self, tracking_id: str, count: int, at: str) -> None:
        item = {
            names.STATUS_KEY: {"S": tracking_id},
            "status": {"S": Status.RECEIVED.value},
            RANK_ATTRIBUTE: {"N": str(STATUS_RANKS[Status.RECEIVED])},
            "source": {"S": API_SOURCE},
            "counts": {"M": {"received": {"N": str(count)}}},
            "rejected": {"L": []},
            "rejectedTotal": {"N": "0"},
            "duplicates": {"L": []},
            "duplicatesTotal": {"N": "0"},
            "createdAt": {"S": at},
            "updatedAt": {"S": at},
            "history": {"L": [_history_step(Status.RECEIVED.value, at)]},
        }
        with (
            unavailable_on_aws_errors(f"status {Status.RECEIVED} for {tracking_id}"),
            _kept_if_further_on(),
        ):
            self.client.put_item(
                TableName=self.table_name,
                Item=item,
                # A fresh tracking id; should it exist, its record is further on: keep it.
                ConditionExpression="attribute_not_exists(#trackingId)",
                ExpressionAttributeNames={"#trackingId": names.STATUS_KEY},
            )

    def record_start_failure(self, tracking_id: str, reason: str, at: str) -> None:
        failed = Status.FAILED
        # Forward only, as update_status writes: never over a later status.
        rule = forward_only(names.STATUS_KEY, STATUS_RANKS[failed], must_exist=True)
        with unavailable_on_aws_errors(f"status {failed} for {tracking_id}"), _kept_if_further_on():
            self.client.update_item(
                TableName=self.table_name,
                Key={names.STATUS_KEY: {"S": tracking_id}},
                UpdateExpression=(
                    "SET #status = :status, #statusRank = :statusRank, #reason = :reason, "
                    "#updatedAt = :at, #history = list_append("
                    "if_not_exists(#history, :noHistory), :step)"
                ),
                ConditionExpression=rule.condition,
                ExpressionAttributeNames=rule.names
                | {
                    "#status": "status",
                    "#reason": "reason",
                    "#updatedAt": "updatedAt",
                    "#history": "history",
                },
                ExpressionAttributeValues=rule.values
                | {
                    ":status": {"S": failed.value},
                    ":reason": {"S": reason[:1000]},
                    ":at": {"S": at},
                    ":noHistory": {"L": []},
                    ":step": {"L": [_history_step(failed.value, at)]},
                },
            )

    def read(self, tracking_id: str) -> dict[str, Any] | None:
        with unavailable_on_aws_errors(f"read of the status of {tracking_id}"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key={names.STATUS_KEY: {"S": tracking_id}},
                ConsistentRead=True,
            )
        item = response.get("Item")
        if not item:
            return None
        from functions._shared.dynamodb import from_item

        return public_record(from_item(item))


def _history_step(status: str, at: str) -> dict[str, Any]:
    return {"M": {"status": {"S": status}, "at": {"S": at}}}


@contextmanager
def _kept_if_further_on() -> Iterator[None]:
    """A conditional write refused because the item is already further on: nothing to do."""
    try:
        yield
    except Exception as error:
        from functions._shared.dynamodb import CONDITIONAL_CHECK_FAILED

        response = getattr(error, "response", None)
        if not (
            isinstance(response, dict)
            and response.get("Error", {}).get("Code") == CONDITIONAL_CHECK_FAILED
        ):
            raise


class EnrichmentTable:
    """The enrichment table as the API uses it:
    :class:`~functions.api.enrichments.EnrichmentRecorder` and
    :class:`~functions.api.enrichments.EnrichmentReader`.

    The summary row is update_status's (``functions/update_status/enrichment.py``): the same
    attributes, ranks and history, so the workflow's PLANNED and final writes move it forward
    from RECEIVED (``tests/unit/test_api_adapters.py`` runs the two writers on one table).

    Example::

        table = EnrichmentTable("stepflow-dev-enrichment-status")
        table.record_received(submission, "2024-03-02T09:15:00Z")
        table.read_summary("cat-1", submission.tracking_id)["status"]  # "RECEIVED"
    """

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def record_received(self, submission: EnrichmentSubmission, at: str) -> None:
        from functions._shared.dynamodb import to_attribute_value

        row: dict[str, Any] = {
            names.ENRICHMENT_KEY: submission.catalog_id,
            names.ENRICHMENT_SORT_KEY: summary_id(submission.tracking_id),
            TRACKING_ID_ATTRIBUTE: submission.tracking_id,
            names.ENRICHMENT_USER_KEY: submission.user_id,
            "status": EnrichmentStatus.RECEIVED.value,
            RANK_ATTRIBUTE: SUMMARY_RANKS[EnrichmentStatus.RECEIVED],
            "batchSize": submission.batch_size,
        }
        if submission.total_products is not None:
            row["totalProducts"] = submission.total_products
            row["totalBatches"] = submission.total_batches
        if submission.pointer is not None:
            row["productsPointer"] = submission.pointer
        row |= {
            names.ENRICHMENT_CREATED_KEY: at,
            "updatedAt": at,
            "history": [{"status": EnrichmentStatus.RECEIVED.value, "at": at}],
        }
        with (
            unavailable_on_aws_errors(f"enrichment {submission.tracking_id} RECEIVED"),
            _kept_if_further_on(),
        ):
            self.client.put_item(
                TableName=self.table_name,
                Item={name: to_attribute_value(value) for name, value in row.items()},
                # A fresh tracking id; should its row exist, it is further on: keep it.
                ConditionExpression="attribute_not_exists(#batchId)",
                ExpressionAttributeNames={"#batchId": names.ENRICHMENT_SORT_KEY},
            )

    def record_start_failure(self, catalog_id: str, tracking_id: str, reason: str, at: str) -> None:
        failed = EnrichmentStatus.FAILED.value
        # Forward only, as update_status writes: never over a later status.
        rule = forward_only(
            names.ENRICHMENT_SORT_KEY, SUMMARY_RANKS[EnrichmentStatus.FAILED], must_exist=True
        )
        with unavailable_on_aws_errors(f"enrichment {tracking_id} {failed}"), _kept_if_further_on():
            self.client.update_item(
                TableName=self.table_name,
                Key=self._key(catalog_id, summary_id(tracking_id)),
                UpdateExpression=(
                    "SET #status = :status, #statusRank = :statusRank, #reason = :reason, "
                    "#updatedAt = :at, #finishedAt = :at, #history = list_append("
                    "if_not_exists(#history, :noHistory), :step)"
                ),
                ConditionExpression=rule.condition,
                ExpressionAttributeNames=rule.names
                | {
                    "#status": "status",
                    "#reason": "reason",
                    "#updatedAt": "updatedAt",
                    "#finishedAt": "finishedAt",
                    "#history": "history",
                },
                ExpressionAttributeValues=rule.values
                | {
                    ":status": {"S": failed},
                    ":reason": {"S": reason[:1000]},
                    ":at": {"S": at},
                    ":noHistory": {"L": []},
                    ":step": {"L": [_history_step(failed, at)]},
                },
            )

    def read_summary(self, catalog_id: str, tracking_id: str) -> dict[str, Any] | None:
        with unavailable_on_aws_errors(f"read of enrichment {tracking_id}"):
            response = self.client.get_item(
                TableName=self.table_name,
                Key=self._key(catalog_id, summary_id(tracking_id)),
                ConsistentRead=True,
            )
        item = response.get("Item")
        if not item:
            return None
        from functions._shared.dynamodb import from_item

        return public_row(from_item(item))

    def batch_rows(self, catalog_id: str, tracking_id: str) -> Iterator[dict[str, Any]]:
        from functions._shared.dynamodb import from_item

        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "#catalogId = :catalogId AND begins_with(#batchId, :prefix)",
            "ProjectionExpression": "#batchId, #batchIndex, #status, #enriched, #failed, "
            "#failures, #reason",
            "ExpressionAttributeNames": {
                "#catalogId": names.ENRICHMENT_KEY,
                "#batchId": names.ENRICHMENT_SORT_KEY,
                "#batchIndex": BATCH_INDEX_ATTRIBUTE,
                "#status": "status",
                "#enriched": "enriched",
                "#failed": "failed",
                "#failures": "failures",
                "#reason": "reason",
            },
            "ExpressionAttributeValues": {
                ":catalogId": {"S": catalog_id},
                ":prefix": {"S": batch_id_prefix(tracking_id)},
            },
            # Consistent: a batch seen once is seen by every later read, so progress never
            # goes backwards between two polls.
            "ConsistentRead": True,
        }
        while True:
            with unavailable_on_aws_errors(f"read of the batches of enrichment {tracking_id}"):
                response = self.client.query(**request)
            for item in response.get("Items", []):
                yield from_item(item)
            next_key = response.get("LastEvaluatedKey")
            if not next_key:
                return
            request["ExclusiveStartKey"] = next_key

    def list_by_user(
        self, user_id: str, count: int, start_after: tuple[str, str, str] | None
    ) -> list[dict[str, Any]]:
        from functions._shared.dynamodb import from_item

        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": names.ENRICHMENT_USER_INDEX,
            "KeyConditionExpression": "#userId = :userId",
            "ExpressionAttributeNames": {"#userId": names.ENRICHMENT_USER_KEY},
            "ExpressionAttributeValues": {":userId": {"S": user_id}},
            "ScanIndexForward": False,
            "Limit": count,
        }
        if start_after is not None:
            created_at, catalog_id, row_id = start_after
            request["ExclusiveStartKey"] = {
                names.ENRICHMENT_USER_KEY: {"S": user_id},
                names.ENRICHMENT_CREATED_KEY: {"S": created_at},
                **self._key(catalog_id, row_id),
            }
        rows: list[dict[str, Any]] = []
        while len(rows) < count:
            with unavailable_on_aws_errors(f"list of the enrichments of user {user_id}"):
                response = self.client.query(**request)
            rows.extend(public_row(from_item(item)) for item in response.get("Items", []))
            next_key = response.get("LastEvaluatedKey")
            if not next_key:
                break
            request["ExclusiveStartKey"] = next_key
            request["Limit"] = count - len(rows)
        return rows[:count]

    @staticmethod
    def _key(catalog_id: str, row_id: str) -> dict[str, Any]:
        return {
            names.ENRICHMENT_KEY: {"S": catalog_id},
            names.ENRICHMENT_SORT_KEY: {"S": row_id},
        }


class IdempotencyGate:
    """Powertools Idempotency (``idempotent_function``) on the idempotency table.

    A request is identified by the route and its ``Idempotency-Key``; its body is hashed too
    (``payload_validation_jmespath``), so the same key with another body is refused (422)
    instead of silently answering the first request's ids.

    Example::

        gate = IdempotencyGate("stepflow-dev-idempotency")
        gate.register_lambda_context(context)
        ids, replayed = gate.run("POST /events#key-1", body, lambda: start_ingest(...))
    """

    client = LazyClient("dynamodb")

    def __init__(
        self,
        table_name: str,
        client: Any | None = None,
        expires_after_seconds: int = IDEMPOTENCY_EXPIRY_SECONDS,
    ) -> None:
        self.table_name = table_name
        self.expires_after_seconds = expires_after_seconds
        self._client = client
        self._context: Any = None
        self._config: Any = None
        self._function: Callable[..., dict[str, Any]] | None = None
        self._replayed = False

    def register_lambda_context(self, context: Any) -> None:
        """Remember the invocation's context: an in-progress record expires with the invocation."""
        self._context = context
        if self._config is not None:
            self._config.register_lambda_context(context)

    def run(
        self, key: str, body: Any, operation: Callable[[], dict[str, Any]]
    ) -> tuple[dict[str, Any], bool]:
        """``operation()`` once per ``key`` (within the expiry); its result, and if replayed.

        Raises :class:`ApiError` 422 (same key, other body) or 409 (the first request with the
        key is still running), and :class:`DependencyUnavailableError` if the table fails.
        """
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            BaseError as IdempotencyError,
        )
        from aws_lambda_powertools.utilities.idempotency.exceptions import (
            IdempotencyAlreadyInProgressError,
            IdempotencyValidationError,
        )

        function = self._idempotent_function()
        self._replayed = False
        shown = key.partition("#")[2][:_MAX_KEY_SHOWN]
        try:
            result = function(request={"key": key, "body": body}, operation=operation)
        except IdempotencyValidationError:
            raise ApiError(
                422,
                f"the Idempotency-Key {shown!r} was already used with a different body; "
                "use a new key for a new request",
                [{"field": "header.Idempotency-Key", "reason": "was used with another body"}],
            ) from None
        except IdempotencyAlreadyInProgressError:
            raise ApiError(
                409,
                f"a request with the Idempotency-Key {shown!r} is still in progress; "
                "retry in a moment",
                [{"field": "header.Idempotency-Key", "reason": "is in use by a running request"}],
                headers={"Retry-After": "1"},
            ) from None
        except IdempotencyError as error:
            raise DependencyUnavailableError(f"the idempotency table failed: {error}") from error
        return result, self._replayed

    def _idempotent_function(self) -> Callable[..., dict[str, Any]]:
        if self._function is not None:
            return self._function
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        persistence = DynamoDBPersistenceLayer(
            table_name=self.table_name,
            key_attr=names.IDEMPOTENCY_KEY,
            expiry_attr=names.IDEMPOTENCY_EXPIRY_ATTRIBUTE,
            boto3_client=self.client,
        )
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            payload_validation_jmespath="body",
            # The header is optional; requests without one never reach the gate.
            raise_on_no_idempotency_key=False,
            expires_after_seconds=self.expires_after_seconds,
            response_hook=self._on_replay,
        )
        if self._context is not None:
            self._config.register_lambda_context(self._context)

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="request",
            persistence_store=persistence,
            config=self._config,
            key_prefix=IDEMPOTENCY_KEY_PREFIX,
        )
        def start_once(
            request: dict[str, Any], operation: Callable[[], dict[str, Any]]
        ) -> dict[str, Any]:
            return operation()

        self._function = cast(Callable[..., dict[str, Any]], start_once)
        return self._function

    def _on_replay(self, response: Any, idempotent_data: Any) -> Any:
        self._replayed = True
        return response
