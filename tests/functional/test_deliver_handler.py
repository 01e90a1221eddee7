"""deliver's Lambda against moto (circuit table, archive bucket, secret) and a real endpoint.

The endpoint is a :class:`~local.peers.downstream.DownstreamServer` on loopback: every request
the handler makes is a real HTTP request, and its request log is the proof of what reached the
endpoint. Time is a fake clock shared by the handler and the endpoint, moved instead of slept.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from botocore.exceptions import ClientError

from functions._shared import names
from functions._shared.errors import (
    CircuitOpenError,
    ConfigurationError,
    InvalidEnvelopeError,
    PermanentDeliveryError,
    TransientDeliveryError,
    TransientDependencyError,
)
from functions.deliver.adapters import DynamoDbCircuitStore, S3BundleSource
from functions.deliver.circuit import CircuitBreaker
from local.peers.downstream import DownstreamServer, Outcome, RequestRecord
from tests.events import load_event
from tests.functional.conftest import (
    REGION,
    FakeLambdaContext,
    HandlerLoader,
    emitted_metrics,
)

CIRCUIT_TABLE = "stepflow-test-circuit"
ARCHIVE_BUCKET = "stepflow-test-archive"
SECRET_NAME = "stepflow-test-downstream"
TOKEN = "downstream-test-token"
THRESHOLD = 3
COOLDOWN = 300
T0 = 1_700_000_000.0


class Clock:
    """Epoch seconds that move only when told to."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SerializedClient:
    """A boto3 client whose calls run one at a time.

    moto applies a conditional write as read-check-write in Python, so two threads can both pass
    the same condition; DynamoDB itself (and the local runtime, see local/moto_patches/) makes
    each write atomic. Serialising the calls restores that, and leaves the race between reading
    a due probe and claiming it (separate calls) as real as it is on AWS.
    """

    def __init__(self, client: Any, lock: threading.Lock) -> None:
        self._client = client
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def serialized(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return serialized


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def downstream(clock: Clock) -> Iterator[DownstreamServer]:
    with DownstreamServer(TOKEN, clock=clock) as server:
        yield server


@pytest.fixture
def deliver_aws(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, downstream: DownstreamServer
) -> Iterator[Any]:
    """The circuit table, the archive bucket and the secret deliver is granted, in moto."""
    settings = {
        names.CIRCUIT_TABLE_ENV: CIRCUIT_TABLE,
        names.ARCHIVE_BUCKET_ENV: ARCHIVE_BUCKET,
        names.DOWNSTREAM_URL_ENV: downstream.ingest_url,
        names.DOWNSTREAM_SECRET_ENV: SECRET_NAME,
        names.CIRCUIT_FAILURE_THRESHOLD_ENV: str(THRESHOLD),
        names.CIRCUIT_COOLDOWN_SECONDS_ENV: str(COOLDOWN),
    }
    for variable, value in settings.items():
        monkeypatch.setenv(variable, value)
    dynamodb.create_table(
        TableName=CIRCUIT_TABLE,
        KeySchema=[{"AttributeName": names.CIRCUIT_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": names.CIRCUIT_KEY, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=ARCHIVE_BUCKET)
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=SECRET_NAME, SecretString=json.dumps({"token": TOKEN})
    )
    # Powertools caches secrets per process; each test starts from the secret it wrote.
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    yield dynamodb
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture
def envelope(deliver_aws: Any) -> dict[str, Any]:
    """archive's output for a bundle of the sample events, stored where archive puts it."""
    events = load_event("validated_envelope.json")["events"]
    body = gzip.compress(b"".join(json.dumps(event).encode() + b"\n" for event in events))
    sha256 = hashlib.sha256(body).hexdigest()
    key = f"bundles/{sha256[:2]}/{sha256}.ndjson.gz"
    boto3.client("s3", region_name=REGION).put_object(Bucket=ARCHIVE_BUCKET, Key=key, Body=body)
    document: dict[str, Any] = copy.deepcopy(load_event("deliver_envelope.json"))
    document["bundle"]["sha256"] = sha256
    document["bundle"]["count"] = len(events)
    document["archive"] = {"bucket": ARCHIVE_BUCKET, "key": key, "created": True}
    return document


@pytest.fixture
def deliver(
    load_handler: HandlerLoader, deliver_aws: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> ModuleType:
    module = load_handler("deliver")
    monkeypatch.setattr(module, "clock", clock)
    return module


@dataclass
class Harness:
    """One deliver Lambda, its AWS resources, its endpoint and its clock, for one test."""

    handler: ModuleType
    envelope: dict[str, Any]
    context: FakeLambdaContext
    downstream: DownstreamServer
    dynamodb: Any
    clock: Clock
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch

    def run(self, event: Any = None) -> dict[str, Any]:
        """Invoke the handler with ``event`` (the envelope by default) as Lambda would."""
        payload = copy.deepcopy(self.envelope if event is None else event)
        result: dict[str, Any] = self.handler.lambda_handler(payload, self.context)
        return result

    def check(self) -> dict[str, Any]:
        return self.run(load_event("deliver_check.json"))

    def item(self) -> dict[str, Any]:
        """The circuit record as stored, attribute -> raw value (numbers are strings)."""
        item = self.dynamodb.get_item(
            TableName=CIRCUIT_TABLE,
            Key={names.CIRCUIT_KEY: {"S": "downstream"}},
            ConsistentRead=True,
        ).get("Item", {})
        return {name: next(iter(value.values())) for name, value in item.items()}

    def metrics(self) -> dict[str, float]:
        """Metrics printed since the last call."""
        return emitted_metrics(self.capsys.readouterr().out)

    def requests(self) -> list[RequestRecord]:
        return self.downstream.received().ingest_requests

    def open_circuit(self) -> None:
        """Take the endpoint down and fail THRESHOLD deliveries at the current time."""
        self.downstream.set_down()
        for _ in range(THRESHOLD):
            with pytest.raises(TransientDeliveryError):
                self.run()

    def with_envelope(self, **changes: Any) -> dict[str, Any]:
        return {**self.envelope, **changes}


@pytest.fixture
def h(
    *,
    deliver: ModuleType,
    envelope: dict[str, Any],
    lambda_context: FakeLambdaContext,
    downstream: DownstreamServer,
    deliver_aws: Any,
    clock: Clock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Harness:
    return Harness(
        deliver, envelope, lambda_context, downstream, deliver_aws, clock, capsys, monkeypatch
    )


SAMPLE_EVENT_IDS = {
    event["eventHeader"]["uuid"] for event in load_event("validated_envelope.json")["events"]
}


# -- check ------------------------------------------------------------------------------------


def test_check_on_a_circuit_never_written_allows_delivery(h: Harness) -> None:
    answer = h.check()

    assert answer == {"state": "CLOSED", "allow": True, "retryAfterSeconds": 0}
    assert h.item() == {}
    assert h.metrics()["CircuitChecks"] == 1


def test_an_unknown_action_is_an_invalid_envelope(h: Harness) -> None:
    with pytest.raises(InvalidEnvelopeError, match="unknown action 'reset'"):
        h.run({"action": "reset"})

    assert h.metrics()["EnvelopesRejected"] == 1


# -- delivery outcomes ------------------------------------------------------------------------


def test_a_bundle_is_posted_with_its_key_and_token_and_the_envelope_comes_back_whole(
    h: Harness,
) -> None:
    result = h.run()

    sha256 = h.envelope["bundle"]["sha256"]
    assert result == {
        **h.envelope,
        "delivery": {"statusCode": 200, "idempotencyKey": sha256, "probe": False},
    }
    received = h.downstream.received()
    assert list(received.bundles) == [sha256]
    assert received.bundles[sha256].sha256 == sha256
    assert received.events == dict.fromkeys(SAMPLE_EVENT_IDS, 1)
    [request] = received.ingest_requests
    assert request.headers["Content-Type"] == "application/x-ndjson"
    assert request.headers["Content-Encoding"] == "gzip"
    assert h.metrics()["DeliverySucceeded"] == 1


def test_a_redelivered_bundle_is_a_duplicate_downstream_and_no_event_counts_twice(
    h: Harness,
) -> None:
    h.run()
    again = h.run()

    assert again["delivery"]["statusCode"] == 200
    assert [r.outcome for r in h.requests()] == [Outcome.ACCEPTED, Outcome.DUPLICATE]
    assert h.downstream.received().events_delivered_twice == {}


@pytest.mark.parametrize("status", [503, 500, 429])
def test_a_5xx_or_429_is_transient_and_counted_in_the_breaker(h: Harness, status: int) -> None:
    h.downstream.set_status_override(status)

    with pytest.raises(TransientDeliveryError, match=f"HTTP {status}"):
        h.run()

    assert (h.item()["state"], h.item()["consecutiveFailures"]) == ("CLOSED", "1")
    assert h.metrics()["DeliveryFailed"] == 1


def test_a_400_is_permanent_and_not_a_breaker_failure(h: Harness) -> None:
    h.downstream.set_status_override(400)

    with pytest.raises(PermanentDeliveryError, match="HTTP 400"):
        h.run()

    assert h.item().get("consecutiveFailures", "0") == "0"
    metrics = h.metrics()
    assert metrics["DeliveryFailed"] == 1
    assert "CircuitBreakerOpen" not in metrics


def test_a_wrong_token_is_permanent_after_a_single_request(h: Harness) -> None:
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=SECRET_NAME, SecretString=json.dumps({"token": "wrong"})
    )

    with pytest.raises(PermanentDeliveryError, match="HTTP 401"):
        h.run()

    assert [r.outcome for r in h.requests()] == [Outcome.UNAUTHORIZED]


def rotate_secret(token: str) -> None:
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=SECRET_NAME, SecretString=json.dumps({"token": token})
    )


def test_a_rotated_token_is_picked_up_after_one_401(h: Harness) -> None:
    h.run()  # caches the current token
    h.downstream.token = "rotated-token"
    rotate_secret("rotated-token")

    result = h.run(h.with_envelope(trackingId="trk-2"))

    assert result["delivery"]["statusCode"] == 200
    outcomes = [r.outcome for r in h.requests()]
    assert outcomes == [Outcome.ACCEPTED, Outcome.UNAUTHORIZED, Outcome.DUPLICATE]


def test_after_a_401_the_next_invocation_reads_the_rotated_secret_at_once(h: Harness) -> None:
    h.run()  # caches the current token
    h.downstream.token = "rotated-token"
    with pytest.raises(PermanentDeliveryError, match="HTTP 401"):
        h.run(h.with_envelope(trackingId="trk-2"))
    rotate_secret("rotated-token")

    result = h.run(h.with_envelope(trackingId="trk-2"))

    assert result["delivery"]["statusCode"] == 200
    # The redrive's single request carried the rotated token: the cache was dropped.
    outcomes = [r.outcome for r in h.requests()]
    assert outcomes == [Outcome.ACCEPTED, Outcome.UNAUTHORIZED, Outcome.DUPLICATE]


def test_an_envelope_without_an_archive_is_invalid(h: Harness) -> None:
    broken = {key: value for key, value in h.envelope.items() if key != "archive"}

    with pytest.raises(InvalidEnvelopeError, match="archive"):
        h.run(broken)


def test_an_archive_outside_the_granted_bucket_is_invalid(h: Harness) -> None:
    elsewhere = h.with_envelope(archive={**h.envelope["archive"], "bucket": "someone-elses"})

    with pytest.raises(InvalidEnvelopeError, match="someone-elses"):
        h.run(elsewhere)


# -- the breaker across invocations ------------------------------------------------------------


def test_the_circuit_opens_after_the_threshold_and_then_nothing_reaches_the_endpoint(
    h: Harness,
) -> None:
    h.open_circuit()
    opening = h.metrics()
    h.clock.advance(60)

    for _ in range(5):
        with pytest.raises(CircuitOpenError, match="retry after 240 s"):
            h.run()
    refusals = h.capsys.readouterr().out
    check = h.check()

    assert opening["CircuitBreakerOpen"] == 1
    assert sum(1 for line in refusals.splitlines() if '"CircuitBreakerOpen"' in line) == 5
    assert [r.outcome for r in h.requests()] == [Outcome.DOWN] * THRESHOLD
    assert check == {"state": "OPEN", "allow": False, "retryAfterSeconds": 240}
    assert (h.item()["state"], h.item()["openedAt"]) == ("OPEN", str(int(T0)))


def test_the_endpoint_sees_only_one_probe_per_cooldown_while_it_stays_down(h: Harness) -> None:
    h.open_circuit()

    for _ in range(3):
        for step in (10, 100, 189):
            h.clock.advance(step)
            with pytest.raises(CircuitOpenError):
                h.run()
        h.clock.advance(1)  # exactly one cooldown after the last opening
        with pytest.raises(TransientDeliveryError):
            h.run()  # the probe, which fails: re-opened

    times = [r.at - T0 for r in h.requests()]
    assert times == [0.0] * THRESHOLD + [300.0, 600.0, 900.0]


def test_a_successful_probe_closes_the_circuit(h: Harness) -> None:
    h.open_circuit()
    h.downstream.set_down(False)
    h.clock.advance(COOLDOWN)
    h.metrics()

    check = h.check()
    probe = h.run()
    metrics = h.metrics()
    after = h.run(h.with_envelope(trackingId="trk-after"))

    assert check == {"state": "OPEN", "allow": True, "retryAfterSeconds": 0}
    assert probe["delivery"]["probe"] is True
    assert after["delivery"]["probe"] is False
    assert metrics["CircuitBreakerClosed"] == 1
    assert metrics["DeliverySucceeded"] == 1
    item = h.item()
    assert (item["state"], item["consecutiveFailures"]) == ("CLOSED", "0")
    assert "openedAt" not in item
    assert "probeOwner" not in item


def test_a_failed_probe_reopens_with_a_fresh_cooldown(h: Harness) -> None:
    h.open_circuit()
    h.clock.advance(COOLDOWN + 7)
    h.metrics()

    with pytest.raises(TransientDeliveryError):
        h.run()

    assert (h.item()["state"], h.item()["openedAt"]) == ("OPEN", str(int(T0) + COOLDOWN + 7))
    assert h.metrics()["CircuitBreakerOpen"] == 1
    assert h.check()["retryAfterSeconds"] == COOLDOWN


def test_a_probe_left_by_a_dead_invocation_is_reclaimed_once_stale(h: Harness) -> None:
    claimed_at = int(T0) - 60
    h.dynamodb.put_item(
        TableName=CIRCUIT_TABLE,
        Item={
            names.CIRCUIT_KEY: {"S": "downstream"},
            "state": {"S": "HALF_OPEN"},
            "consecutiveFailures": {"N": str(THRESHOLD)},
            "openedAt": {"N": str(claimed_at - COOLDOWN)},
            "probeOwner": {"S": "timed-out-invocation"},
            "probeClaimedAt": {"N": str(claimed_at)},
            "version": {"N": "2"},
        },
    )

    live = h.check()
    with pytest.raises(CircuitOpenError, match="another caller holds the probe"):
        h.run()
    h.clock.advance(60)  # 120 s after the claim: twice the function's timeout
    result = h.run()

    assert live == {"state": "HALF_OPEN", "allow": False, "retryAfterSeconds": 60}
    assert result["delivery"]["probe"] is True
    assert h.item()["state"] == "CLOSED"


def test_exactly_one_of_many_concurrent_deliveries_probes_after_the_cooldown(
    h: Harness,
) -> None:
    h.open_circuit()
    h.downstream.set_down(False)
    h.clock.advance(COOLDOWN)
    lock = threading.Lock()
    h.monkeypatch.setattr(
        h.handler,
        "breaker",
        CircuitBreaker(
            DynamoDbCircuitStore(
                CIRCUIT_TABLE, client=SerializedClient(boto3.client("dynamodb"), lock)
            ),
            h.handler.settings.policy(),
            "downstream",
        ),
    )
    h.monkeypatch.setattr(
        h.handler,
        "bundle_source",
        S3BundleSource(client=SerializedClient(boto3.client("s3"), lock)),
    )
    h.handler.tokens.token()  # cached before the threads start, as on a warm instance
    # The probe is held inside the endpoint until every other delivery has been answered, so
    # none of them can see the circuit closed by it: each one raced for the same due probe.
    h.downstream.hold()
    callers = 8
    start = threading.Barrier(callers)
    outcomes: queue.Queue[tuple[str, Any]] = queue.Queue()

    def attempt(number: int) -> None:
        start.wait()
        try:
            result = h.handler.handle(copy.deepcopy(h.envelope), owner=f"caller-{number}")
            outcomes.put(("delivered", result))
        except Exception as error:
            outcomes.put((type(error).__name__, error))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(callers)]
    for thread in threads:
        thread.start()
    early = [outcomes.get(timeout=30) for _ in range(callers - 1)]
    assert h.downstream.wait_for_arrivals(THRESHOLD + 1, timeout=30)
    h.downstream.release()
    for thread in threads:
        thread.join(timeout=30)
    kind, result = outcomes.get(timeout=30)
    h.handler.metrics.clear_metrics()  # handle() adds metrics; only lambda_handler flushes them

    assert [early_kind for early_kind, _ in early] == ["CircuitOpenError"] * (callers - 1)
    assert kind == "delivered"
    assert result["delivery"]["probe"] is True
    assert [r.outcome for r in h.requests()[THRESHOLD:]] == [Outcome.ACCEPTED]
    assert h.item()["state"] == "CLOSED"


# -- dependencies ------------------------------------------------------------------------------


def test_a_missing_archived_bundle_hands_a_claimed_probe_back(h: Harness) -> None:
    h.open_circuit()
    h.clock.advance(COOLDOWN)
    h.metrics()
    missing = h.with_envelope(archive={**h.envelope["archive"], "key": "bundles/00/gone.gz"})

    with pytest.raises(ClientError, match="NoSuchKey"):
        h.run(missing)

    assert h.metrics()["DeliverErrors"] == 1
    assert (h.item()["state"], h.item()["openedAt"]) == ("OPEN", str(int(T0)))
    assert len(h.requests()) == THRESHOLD
    assert h.check()["allow"] is True


def test_a_throttled_circuit_table_is_a_transient_dependency_error(h: Harness) -> None:
    class Throttled:
        def __getattr__(self, name: str) -> Callable[..., Any]:
            def throttled(**request: Any) -> Any:
                raise ClientError(
                    {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                    "GetItem",
                )

            return throttled

    h.monkeypatch.setattr(
        h.handler,
        "breaker",
        CircuitBreaker(
            DynamoDbCircuitStore(CIRCUIT_TABLE, client=Throttled()), h.handler.settings.policy()
        ),
    )

    with pytest.raises(TransientDependencyError, match="ThrottlingException"):
        h.run()
    delivering = h.metrics()
    with pytest.raises(TransientDependencyError):
        h.check()
    checking = h.metrics()

    assert h.requests() == []
    assert delivering["DependencyFailures"] == checking["DependencyFailures"] == 1


def test_the_local_clock_scale_makes_the_breaker_see_time_pass_faster(
    load_handler: HandlerLoader, deliver_aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.LOCAL_TIME_SCALE_ENV, "0.001")
    handler = load_handler("deliver")

    before = time.time()
    seen = handler.clock()
    after = time.time()

    assert before * 1000 <= seen <= after * 1000


def test_a_missing_setting_fails_the_cold_start_naming_it(
    load_handler: HandlerLoader, deliver_aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(names.DOWNSTREAM_URL_ENV)

    with pytest.raises(ConfigurationError, match=names.DOWNSTREAM_URL_ENV):
        load_handler("deliver")
