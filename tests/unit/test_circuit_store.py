"""The DynamoDB circuit store obeys the same rules as the in-memory reference, and translates
throttling into ``TransientDependencyError``.

Every contract test runs against both stores: DynamoDB's condition expressions (in moto) and
the in-memory store's Python conditions must agree, or the unit tests of the breaker would
prove nothing about production.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from functions._shared import names
from functions._shared.errors import ConfigurationError, TransientDependencyError
from functions.deliver.adapters import DynamoDbCircuitStore, record_from_item
from functions.deliver.circuit import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitRecord,
    CircuitState,
    CircuitStore,
    InMemoryCircuitStore,
    Permit,
)

TABLE = "circuit-test"
CIRCUIT = "downstream"
T0 = 1_700_000_000
POLICY = BreakerPolicy(failure_threshold=3, cooldown_seconds=300, probe_stale_seconds=120)


@pytest.fixture
def dynamodb_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": names.CIRCUIT_KEY, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": names.CIRCUIT_KEY, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture(params=["in-memory", "dynamodb"])
def store(request: pytest.FixtureRequest) -> CircuitStore:
    if request.param == "in-memory":
        return InMemoryCircuitStore()
    client = request.getfixturevalue("dynamodb_client")
    return DynamoDbCircuitStore(TABLE, client=client)


def opened(store: CircuitStore, at: int = T0) -> CircuitRecord:
    for _ in range(POLICY.failure_threshold):
        store.add_failure(CIRCUIT)
    assert store.trip(CIRCUIT, at, POLICY.failure_threshold)
    return store.read(CIRCUIT)


def test_a_missing_record_reads_as_a_fresh_closed_circuit(store: CircuitStore) -> None:
    assert store.read(CIRCUIT) == CircuitRecord(CIRCUIT)


def test_failures_add_up_atomically_and_only_while_closed(store: CircuitStore) -> None:
    counts = [store.add_failure(CIRCUIT) for _ in range(3)]
    tripped_early = store.trip(CIRCUIT, T0, threshold=4)
    tripped = store.trip(CIRCUIT, T0, threshold=3)
    tripped_again = store.trip(CIRCUIT, T0 + 1, threshold=3)
    late = store.add_failure(CIRCUIT)

    assert counts == [1, 2, 3]
    assert (tripped_early, tripped, tripped_again, late) == (False, True, False, None)
    record = store.read(CIRCUIT)
    assert (record.state, record.opened_at, record.consecutive_failures) == (
        CircuitState.OPEN,
        T0,
        3,
    )
    assert record.version == 1


def test_reset_applies_only_while_closed(store: CircuitStore) -> None:
    store.add_failure(CIRCUIT)

    assert store.reset_failures(CIRCUIT) is True
    assert store.read(CIRCUIT).consecutive_failures == 0
    opened(store)
    assert store.reset_failures(CIRCUIT) is False


def test_a_probe_is_claimed_once_by_whoever_writes_first(store: CircuitStore) -> None:
    seen = opened(store)
    due = T0 + POLICY.cooldown_seconds

    too_early = store.claim_probe(seen, "early", due - 1, POLICY)
    first = store.claim_probe(seen, "a", due, POLICY)
    second = store.claim_probe(seen, "b", due, POLICY)

    assert (too_early, first, second) == (False, True, False)
    record = store.read(CIRCUIT)
    assert (record.state, record.probe_owner, record.probe_claimed_at) == (
        CircuitState.HALF_OPEN,
        "a",
        due,
    )
    assert record.version == seen.version + 1


def test_a_stale_probe_can_be_reclaimed_but_a_live_one_cannot(store: CircuitStore) -> None:
    opened(store)
    claimed_at = T0 + 300
    assert store.claim_probe(store.read(CIRCUIT), "silent", claimed_at, POLICY)
    half_open = store.read(CIRCUIT)

    live = store.claim_probe(half_open, "eager", claimed_at + 119, POLICY)
    stale = store.claim_probe(half_open, "rescuer", claimed_at + 120, POLICY)

    assert (live, stale) == (False, True)
    assert store.read(CIRCUIT).probe_owner == "rescuer"


def test_only_the_probe_owner_closes_reopens_or_releases(store: CircuitStore) -> None:
    opened(store)
    assert store.claim_probe(store.read(CIRCUIT), "owner", T0 + 300, POLICY)

    assert store.close_probe(CIRCUIT, "intruder") is False
    assert store.reopen_probe(CIRCUIT, "intruder", T0 + 301) is False
    assert store.release_probe(CIRCUIT, "intruder") is False
    assert store.read(CIRCUIT).state is CircuitState.HALF_OPEN


def test_a_probe_outcome_moves_the_circuit(store: CircuitStore) -> None:
    opened(store)
    assert store.claim_probe(store.read(CIRCUIT), "p1", T0 + 300, POLICY)

    assert store.reopen_probe(CIRCUIT, "p1", T0 + 305) is True
    reopened = store.read(CIRCUIT)
    assert store.claim_probe(reopened, "p2", T0 + 605, POLICY)
    assert store.release_probe(CIRCUIT, "p2") is True
    released = store.read(CIRCUIT)
    assert store.claim_probe(released, "p3", T0 + 605, POLICY)
    assert store.close_probe(CIRCUIT, "p3") is True
    closed = store.read(CIRCUIT)

    assert (reopened.state, reopened.opened_at, reopened.probe_owner) == (
        CircuitState.OPEN,
        T0 + 305,
        None,
    )
    assert reopened.consecutive_failures == POLICY.failure_threshold + 1
    assert (released.state, released.opened_at) == (CircuitState.OPEN, T0 + 305)
    assert closed == CircuitRecord(CIRCUIT, version=closed.version)
    # trip, claim, reopen, claim, release, claim, close: one version each.
    assert closed.version == 7


def test_the_breaker_runs_the_same_on_both_stores(store: CircuitStore) -> None:
    breaker = CircuitBreaker(store, POLICY, CIRCUIT)
    for n in range(3):
        admission = breaker.admit(f"e{n}", T0)
        assert isinstance(admission, Permit)
        breaker.record_failure(admission, T0)

    refused = breaker.admit("x", T0 + 1)
    probe = breaker.admit("p", T0 + 300)
    beaten = breaker.admit("q", T0 + 300)

    assert not isinstance(refused, Permit)
    assert isinstance(probe, Permit)
    assert probe.probe
    assert not isinstance(beaten, Permit)
    assert breaker.record_success(probe, T0 + 301).change == "CLOSED"
    assert breaker.check(T0 + 302).allow is True


def test_a_record_written_by_hand_without_a_version_can_still_be_probed(
    dynamodb_client: Any,
) -> None:
    dynamodb_client.put_item(
        TableName=TABLE,
        Item={
            names.CIRCUIT_KEY: {"S": CIRCUIT},
            "state": {"S": "OPEN"},
            "openedAt": {"N": str(T0)},
        },
    )
    store = DynamoDbCircuitStore(TABLE, client=dynamodb_client)
    seen = store.read(CIRCUIT)

    assert seen.version == 0
    assert store.claim_probe(seen, "p", T0 + 300, POLICY) is True
    assert store.read(CIRCUIT).version == 1


def test_reads_are_strongly_consistent() -> None:
    client = RecordingClient()

    DynamoDbCircuitStore(TABLE, client=client).read(CIRCUIT)

    [(operation, request)] = client.calls
    assert operation == "get_item"
    assert request["ConsistentRead"] is True


def test_a_claim_is_one_conditional_update_on_version_state_and_time() -> None:
    client = RecordingClient()
    seen = CircuitRecord(CIRCUIT, CircuitState.OPEN, 3, opened_at=T0, version=4)

    DynamoDbCircuitStore(TABLE, client=client).claim_probe(seen, "p", T0 + 300, POLICY)

    [(operation, request)] = client.calls
    assert operation == "update_item"
    condition = request["ConditionExpression"]
    assert "#version = :seenVersion" in condition
    assert "#state = :seenState" in condition
    assert "#openedAt <= :dueBy" in condition
    assert request["ExpressionAttributeValues"][":dueBy"] == {"N": str(T0)}
    assert request["ExpressionAttributeValues"][":seenVersion"] == {"N": "4"}


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_throttling_and_server_errors_become_transient(code: str) -> None:
    client = RecordingClient(error=client_error(code))
    store = DynamoDbCircuitStore(TABLE, client=client)

    with pytest.raises(TransientDependencyError, match=code):
        store.read(CIRCUIT)
    with pytest.raises(TransientDependencyError, match=code):
        store.add_failure(CIRCUIT)


def test_a_failed_condition_is_an_answer_not_an_error() -> None:
    client = RecordingClient(error=client_error("ConditionalCheckFailedException"))

    assert DynamoDbCircuitStore(TABLE, client=client).close_probe(CIRCUIT, "p") is False


def test_other_client_errors_pass_through() -> None:
    client = RecordingClient(error=client_error("ResourceNotFoundException"))

    with pytest.raises(ClientError):
        DynamoDbCircuitStore(TABLE, client=client).trip(CIRCUIT, T0, 3)


def test_an_unknown_state_in_the_table_is_a_loud_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="'SIDEWAYS'"):
        record_from_item(CIRCUIT, {"state": {"S": "SIDEWAYS"}})


def client_error(code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "test"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "Operation",
    )


class RecordingClient:
    """Records each call; raises ``error`` when given, else answers as an empty table would."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def get_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("get_item", request))
        if self.error is not None:
            raise self.error
        return {}

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("update_item", request))
        if self.error is not None:
            raise self.error
        return {"Attributes": {"consecutiveFailures": {"N": "1"}}}
