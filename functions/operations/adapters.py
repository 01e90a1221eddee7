"""The operations API's I/O: SQS, Step Functions, the circuit and redrive tables, S3, the
downstream. Every boto3 client is made on first use and may be injected (tests use moto).

Example::

    sqs = SqsQueues()
    sqs.depth("stepflow-dev-ingest", sqs.url("stepflow-dev-ingest")).visible
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Sequence
from typing import Any, Final

import urllib3

from functions._shared import names
from functions._shared.clients import LazyClient
from functions._shared.dynamodb import from_item, to_attribute_value
from functions._shared.http_client import describe_error, lambda_pool, read_capped
from functions._shared.json_secret import secret_field
from functions.operations.breaker import BreakerRecord
from functions.operations.executions import ExecutionFacts, NotRedrivableError
from functions.operations.queues import HeldMessage, QueueDepth
from functions.operations.replay import BundleMissingError, ReplayAnswer

_DEPTH_ATTRIBUTES: Final = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
# Screened dead letters stay hidden this long at most: the screening releases them right after.
_SCREEN_VISIBILITY_SECONDS: Final = 60
_AGE_WINDOW: Final = dt.timedelta(minutes=5)
# A message's redrives are remembered this long (DynamoDB TTL): longer than SQS keeps a message
# (14 days at most), so a loop cannot outlive the count.
_LEDGER_DAYS: Final = 30


class SqsQueues:
    """:class:`~functions.operations.queues.QueueService` on SQS (and CloudWatch for ages).

    The age of the oldest message is SQS's own ``ApproximateAgeOfOldestMessage`` metric over
    the last five minutes; ``None`` when CloudWatch has no datapoint (a quiet queue, or the
    local runtime, which publishes no SQS metrics).
    """

    client = LazyClient("sqs")
    metrics = LazyClient("cloudwatch")

    def __init__(self, client: Any | None = None, metrics: Any | None = None) -> None:
        self._client = client
        self._metrics = metrics
        self._urls: dict[str, str] = {}

    def url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self.client.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    def arn(self, url: str) -> str:
        attributes = self.client.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def depth(self, name: str, url: str) -> QueueDepth:
        attributes = self.client.get_queue_attributes(
            QueueUrl=url, AttributeNames=list(_DEPTH_ATTRIBUTES)
        )["Attributes"]
        return QueueDepth(
            name=name,
            url=url,
            visible=int(attributes.get("ApproximateNumberOfMessages", 0)),
            in_flight=int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
            delayed=int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
            oldest_message_age_seconds=self._oldest_age(name),
        )

    def _oldest_age(self, name: str) -> int | None:
        now = dt.datetime.now(dt.UTC)
        try:
            answer = self.metrics.get_metric_statistics(
                Namespace="AWS/SQS",
                MetricName="ApproximateAgeOfOldestMessage",
                Dimensions=[{"Name": "QueueName", "Value": name}],
                StartTime=now - _AGE_WINDOW,
                EndTime=now,
                Period=60,
                Statistics=["Maximum"],
            )
        except Exception:  # the age is a nicety: a queue's depth is still worth answering
            return None
        points = sorted(answer.get("Datapoints", []), key=lambda point: point["Timestamp"])
        return int(points[-1]["Maximum"]) if points else None

    def hold(self, url: str, limit: int) -> list[HeldMessage]:
        held: list[HeldMessage] = []
        while len(held) < limit:
            messages = self.client.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, limit - len(held)),
                VisibilityTimeout=_SCREEN_VISIBILITY_SECONDS,
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            ).get("Messages", [])
            if not messages:
                return held
            held += [
                HeldMessage(
                    message_id=m["MessageId"],
                    body=m["Body"],
                    attributes=m.get("MessageAttributes", {}),
                    receipt_handle=m["ReceiptHandle"],
                )
                for m in messages
            ]
        return held

    def release(self, url: str, messages: Sequence[HeldMessage]) -> None:
        for start in range(0, len(messages), 10):
            self.client.change_message_visibility_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(n), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                    for n, m in enumerate(messages[start : start + 10])
                ],
            )

    def delete(self, url: str, message: HeldMessage) -> None:
        self.client.delete_message(QueueUrl=url, ReceiptHandle=message.receipt_handle)

    def start_move(self, source_arn: str, destination_arn: str, rate: int | None) -> str:
        request: dict[str, Any] = {"SourceArn": source_arn, "DestinationArn": destination_arn}
        if rate is not None:
            request["MaxNumberOfMessagesPerSecond"] = rate
        return str(self.client.start_message_move_task(**request)["TaskHandle"])

    def list_moves(self, source_arn: str) -> list[dict[str, Any]]:
        answer = self.client.list_message_move_tasks(SourceArn=source_arn, MaxResults=10)
        return list(answer.get("Results", []))

    def cancel_move(self, task_handle: str) -> int:
        answer = self.client.cancel_message_move_task(TaskHandle=task_handle)
        return int(answer.get("ApproximateNumberOfMessagesMoved", 0))


class DynamoDbRedriveLedger:
    """:class:`~functions.operations.queues.RedriveLedger`: one item per message key, its
    redrive count and times, and, once set aside, the message itself."""

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def count_redrive(self, key: str, queue: str, now: str) -> int:
        answer = self.client.update_item(
            TableName=self.table_name,
            Key={names.REDRIVES_KEY: {"S": key}},
            UpdateExpression="SET #queue = :queue, #expiresAt = :expiresAt, #history = "
            "list_append(if_not_exists(#history, :empty), :now) ADD #redrives :one",
            ExpressionAttributeNames={
                "#queue": "queue",
                "#history": "redrivenAt",
                "#redrives": "redrives",
                "#expiresAt": names.REDRIVES_EXPIRY_ATTRIBUTE,
            },
            ExpressionAttributeValues={
                ":queue": {"S": queue},
                ":expiresAt": {"N": str(int(time.time() + _LEDGER_DAYS * 86_400))},
                ":empty": {"L": []},
                ":now": {"L": [{"S": now}]},
                ":one": {"N": "1"},
            },
            ReturnValues="UPDATED_NEW",
        )
        return int(answer["Attributes"]["redrives"]["N"])

    def set_aside(self, key: str, queue: str, message: HeldMessage, now: str) -> None:
        self.client.update_item(
            TableName=self.table_name,
            Key={names.REDRIVES_KEY: {"S": key}},
            UpdateExpression="SET setAsideAt = :now, body = :body, messageId = :id, "
            "messageAttributes = :attributes",
            ExpressionAttributeValues={
                ":now": {"S": now},
                ":body": {"S": message.body},
                ":id": {"S": message.message_id},
                ":attributes": {"S": json.dumps(message.attributes, default=str)},
            },
        )


class StepFunctionsExecutions:
    """:class:`~functions.operations.executions.ExecutionService` on Step Functions."""

    client = LazyClient("stepfunctions")

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    def failed_arns(self, state_machine_arn: str, status: str, limit: int) -> list[str]:
        arns: list[str] = []
        pages = self.client.get_paginator("list_executions").paginate(
            stateMachineArn=state_machine_arn,
            statusFilter=status,
            PaginationConfig={"MaxItems": limit, "PageSize": min(limit, 100)},
        )
        for page in pages:
            arns += [item["executionArn"] for item in page.get("executions", [])]
        return arns

    def describe(self, execution_arn: str) -> ExecutionFacts:
        answer = self.client.describe_execution(executionArn=execution_arn)
        return ExecutionFacts(
            arn=execution_arn,
            status=str(answer["status"]),
            error=answer.get("error"),
            cause=answer.get("cause"),
            stop_date=answer.get("stopDate"),
            redrive_status=answer.get("redriveStatus"),
            redrive_count=int(answer.get("redriveCount", 0)),
            redrive_status_reason=answer.get("redriveStatusReason"),
        )

    def redrive(self, execution_arn: str, client_token: str) -> None:
        try:
            self.client.redrive_execution(executionArn=execution_arn, clientToken=client_token)
        except self.client.exceptions.ExecutionNotRedrivable as error:
            raise NotRedrivableError(str(error)) from None

    def start(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        """Start (or, for the same name and input, find) an execution; its ARN."""
        try:
            answer = self.client.start_execution(
                stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload)
            )
        except self.client.exceptions.ExecutionAlreadyExists:
            # A name is never reused: the work it names was started before.
            return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name
        return str(answer["executionArn"])


_CIRCUIT_FIELDS: Final = {
    "state": "state",
    "consecutiveFailures": "consecutive_failures",
    "openedAt": "opened_at",
    "probeClaimedAt": "probe_claimed_at",
    "version": "version",
}


class DynamoDbBreakerStore:
    """:class:`~functions.operations.breaker.BreakerStore` on deliver's circuit table."""

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def read(self, circuit_id: str) -> BreakerRecord:
        item = self.client.get_item(
            TableName=self.table_name,
            Key={names.CIRCUIT_KEY: {"S": circuit_id}},
            ConsistentRead=True,
        ).get("Item")
        values = from_item(item or {})
        fields: dict[str, Any] = {
            name: values[attribute]
            for attribute, name in _CIRCUIT_FIELDS.items()
            if values.get(attribute) is not None
        }
        for name in ("consecutive_failures", "opened_at", "probe_claimed_at", "version"):
            if name in fields:
                fields[name] = int(fields[name])
        history = tuple(dict(entry) for entry in values.get("history") or ())
        return BreakerRecord(circuit_id, **fields, history=history)

    def write_manual(self, seen: BreakerRecord, changed: BreakerRecord) -> bool:
        values: dict[str, Any] = {
            ":state": {"S": changed.state},
            ":failures": {"N": str(changed.consecutive_failures)},
            ":version": {"N": str(changed.version)},
            ":history": to_attribute_value(list(changed.history)),
            ":seen": {"N": str(seen.version)},
        }
        assignments = "#state = :state, consecutiveFailures = :failures, #version = :version, "
        assignments += "history = :history"
        removals = ["probeOwner", "probeClaimedAt"]
        if changed.opened_at is None:
            removals.append("openedAt")
        else:
            assignments += ", openedAt = :openedAt"
            values[":openedAt"] = {"N": str(changed.opened_at)}
        seen_version = "#version = :seen"
        if seen.version == 0:
            seen_version = f"(attribute_not_exists(#version) OR {seen_version})"
        try:
            self.client.update_item(
                TableName=self.table_name,
                Key={names.CIRCUIT_KEY: {"S": seen.circuit_id}},
                UpdateExpression=f"SET {assignments} REMOVE {', '.join(removals)}",
                ConditionExpression=seen_version,
                ExpressionAttributeNames={"#state": "state", "#version": "version"},
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


class AwsHealthProbes:
    """Reads that prove a table or bucket answers: a ``GetItem`` of a key nobody writes
    (``table_keys`` names each table's partition key), a ``HeadBucket``."""

    dynamodb = LazyClient("dynamodb")
    s3 = LazyClient("s3")

    def __init__(
        self, table_keys: dict[str, str], dynamodb: Any | None = None, s3: Any | None = None
    ) -> None:
        self.table_keys = table_keys
        self._dynamodb = dynamodb
        self._s3 = s3

    def read_table(self, table: str) -> None:
        key = {self.table_keys[table]: {"S": "health-check"}}
        self.dynamodb.get_item(TableName=table, Key=key)

    def read_bucket(self, bucket: str) -> None:
        self.s3.head_bucket(Bucket=bucket)


class S3Archive:
    """:class:`~functions.operations.replay.Archive` on the archive bucket."""

    client = LazyClient("s3")

    def __init__(self, bucket: str, client: Any | None = None) -> None:
        self.bucket = bucket
        self._client = client

    def read(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
        except self.client.exceptions.NoSuchKey:
            raise BundleMissingError(f"no bundle {key} in {self.bucket}") from None
        body: bytes = answer["Body"].read()
        return body


_POOL: Final = lambda_pool()


class HttpReplayDownstream:
    """:class:`~functions.operations.replay.Downstream`: POST the bundle as deliver does."""

    def __init__(self, url: str, secret_name: str, timeout_seconds: float = 20.0) -> None:
        self.url = url
        self.secret_name = secret_name
        self.timeout = urllib3.Timeout(connect=3.0, read=timeout_seconds)

    def post(self, body: bytes, idempotency_key: str) -> ReplayAnswer:
        token = secret_field(self.secret_name, "token", max_age_seconds=300)
        try:
            response = _POOL.request(
                "POST",
                self.url,
                body=body,
                headers={
                    "Content-Type": "application/x-ndjson",
                    "Content-Encoding": "gzip",
                    "Idempotency-Key": idempotency_key,
                    "Authorization": f"Bearer {token}",
                    "User-Agent": "stepflow-operations/1",
                },
                timeout=self.timeout,
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            return ReplayAnswer(status=0, excerpt=describe_error(error))
        excerpt = read_capped(response, 500, decode_content=False)[:500]
        return ReplayAnswer(response.status, excerpt.decode("utf-8", errors="replace"))
