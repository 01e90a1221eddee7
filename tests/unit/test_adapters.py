"""The DynamoDB adapters against hand-written fake clients: requests, conditions, failures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from functions._shared.errors import TransientDependencyError
from functions.dedupe.adapters import DynamoDbClaimStore
from functions.dedupe.core import new_claim
from functions.update_status.adapters import DynamoDbStatusStore
from functions.update_status.core import StatusUpdate, plan_write

NOW = datetime(2024, 3, 2, 10, 0, 0, tzinfo=UTC)


def client_error(code: str, item: dict[str, Any] | None = None) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": "test"}}
    if item is not None:
        response["Item"] = item
    return ClientError(response, "Operation")


class RecordingClient:
    """Answers every call with ``answer`` (raised when it is an exception) and records it."""

    def __init__(self, answer: Any = None, stored_item: dict[str, Any] | None = None) -> None:
        self.answer = answer
        self.stored_item = stored_item
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _respond(self, operation: str, request: dict[str, Any]) -> Any:
        self.calls.append((operation, request))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer or {}

    def put_item(self, **request: Any) -> Any:
        return self._respond("put_item", request)

    def update_item(self, **request: Any) -> Any:
        return self._respond("update_item", request)

    def get_item(self, **request: Any) -> Any:
        self.calls.append(("get_item", request))
        return {"Item": self.stored_item} if self.stored_item else {}


def test_a_claim_is_one_conditional_put_with_the_whole_rule() -> None:
    client = RecordingClient()
    store = DynamoDbClaimStore("dedupe-table", client=client)

    fresh = store.claim(new_claim("e-1", "trk-1", NOW, 60), int(NOW.timestamp()))

    assert fresh is True
    [(operation, request)] = client.calls
    assert operation == "put_item"
    assert request["TableName"] == "dedupe-table"
    assert request["ConditionExpression"] == (
        "attribute_not_exists(eventId) OR expiresAt < :now OR trackingId = :trackingId"
    )
    assert request["Item"] == {
        "eventId": {"S": "e-1"},
        "expiresAt": {"N": str(int(NOW.timestamp()) + 60)},
        "trackingId": {"S": "trk-1"},
        "firstSeenAt": {"S": "2024-03-02T10:00:00Z"},
    }
    assert request["ExpressionAttributeValues"] == {
        ":now": {"N": str(int(NOW.timestamp()))},
        ":trackingId": {"S": "trk-1"},
    }


def test_a_failed_condition_means_duplicate() -> None:
    store = DynamoDbClaimStore(
        "t", client=RecordingClient(client_error("ConditionalCheckFailedException"))
    )

    assert store.claim(new_claim("e-1", "trk-2", NOW, 60), int(NOW.timestamp())) is False


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttling_while_claiming_is_transient(code: str) -> None:
    store = DynamoDbClaimStore("t", client=RecordingClient(client_error(code)))

    with pytest.raises(TransientDependencyError, match=code):
        store.claim(new_claim("e-1", "trk-1", NOW, 60), int(NOW.timestamp()))


def test_a_missing_table_is_not_retried_as_transient() -> None:
    store = DynamoDbClaimStore(
        "t", client=RecordingClient(client_error("ResourceNotFoundException"))
    )

    with pytest.raises(ClientError):
        store.claim(new_claim("e-1", "trk-1", NOW, 60), int(NOW.timestamp()))


def status_write(status: str = "DELIVERED", **fields: Any) -> Any:
    update = StatusUpdate.model_validate({"trackingId": "trk-1", "status": status, **fields})
    return plan_write(update, NOW)


def test_a_status_write_is_one_update_guarded_by_the_stored_rank() -> None:
    stored = {"trackingId": {"S": "trk-1"}, "status": {"S": "DELIVERED"}, "statusRank": {"N": "90"}}
    client = RecordingClient({"Attributes": stored})

    outcome = DynamoDbStatusStore("status-table", client=client).write(status_write())

    [(operation, request)] = client.calls
    assert operation == "update_item"
    assert request["ConditionExpression"] == (
        "attribute_not_exists(#trackingId) OR #statusRank < :statusRank"
    )
    assert request["ExpressionAttributeValues"][":statusRank"] == {"N": "90"}
    assert request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    assert outcome.applied
    assert outcome.record == {"trackingId": "trk-1", "status": "DELIVERED"}


def test_counts_are_set_never_added() -> None:
    client = RecordingClient({"Attributes": {}})

    DynamoDbStatusStore("t", client=client).write(status_write(counts={"received": 2}))

    expression = client.calls[0][1]["UpdateExpression"]
    assert "#counts = :counts" in expression
    assert " ADD " not in expression


def test_a_refused_write_returns_the_record_from_the_failed_condition() -> None:
    stored = {"trackingId": {"S": "trk-1"}, "status": {"S": "DELIVERED"}, "statusRank": {"N": "90"}}
    client = RecordingClient(client_error("ConditionalCheckFailedException", item=stored))

    outcome = DynamoDbStatusStore("t", client=client).write(status_write("ACCEPTED"))

    assert not outcome.applied
    assert outcome.record == {"trackingId": "trk-1", "status": "DELIVERED"}
    assert [operation for operation, _ in client.calls] == ["update_item"]


def test_a_refused_write_without_the_old_item_reads_it_consistently() -> None:
    stored = {"trackingId": {"S": "trk-1"}, "status": {"S": "DELIVERED"}}
    client = RecordingClient(client_error("ConditionalCheckFailedException"), stored_item=stored)

    outcome = DynamoDbStatusStore("t", client=client).write(status_write("ACCEPTED"))

    assert outcome.record["status"] == "DELIVERED"
    assert client.calls[-1][1]["ConsistentRead"] is True


def test_throttling_while_recording_is_transient() -> None:
    client = RecordingClient(client_error("ProvisionedThroughputExceededException"))

    with pytest.raises(TransientDependencyError):
        DynamoDbStatusStore("t", client=client).write(status_write())
