"""deliver_bundle with in-memory ports: what reaches the endpoint, and what the breaker records."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import ValidationError

from functions._shared.errors import (
    CircuitOpenError,
    ConfigurationError,
    PermanentDeliveryError,
    TransientDeliveryError,
    TransientDependencyError,
)
from functions.deliver.circuit import (
    BreakerPolicy,
    CircuitBreaker,
    CircuitChange,
    CircuitRecord,
    CircuitState,
    InMemoryCircuitStore,
)
from functions.deliver.core import (
    DeliveryEnvelope,
    DeliveryOutcome,
    DownstreamResponse,
    DownstreamUnavailableError,
    OpenedBundle,
    Readable,
    classify_status,
    deliver_bundle,
)

T0 = 1_700_000_000
SHA = "ab" * 32
BUNDLE = b"\x1f\x8b" + b"gzip bytes" * 100
POLICY = BreakerPolicy(failure_threshold=2, cooldown_seconds=300, probe_stale_seconds=120)


def envelope() -> DeliveryEnvelope:
    return DeliveryEnvelope.model_validate(
        {
            "trackingId": "trk-1",
            "archive": {"bucket": "archive", "key": f"bundles/ab/{SHA}.ndjson.gz"},
            "bundle": {"sha256": SHA},
        }
    )


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Bundles:
    data: bytes = BUNDLE
    error: Exception | None = None
    break_after: int | None = None
    opened: list[tuple[str, str]] = field(default_factory=list)
    closed: int = 0

    def open(self, bucket: str, key: str) -> OpenedBundle:
        self.opened.append((bucket, key))
        if self.error is not None:
            raise self.error
        stream: Readable = io.BytesIO(self.data)
        if self.break_after is not None:
            stream = BreakingStream(self.data, self.break_after)
        bundles = self

        class Tracked(OpenedBundle):
            def close(self) -> None:
                bundles.closed += 1

        return Tracked(stream, len(self.data))


class BreakingStream:
    """Yields ``good`` bytes, then fails as a dropped S3 connection would."""

    def __init__(self, data: bytes, good: int) -> None:
        self._data = io.BytesIO(data[:good])

    def read(self, size: int = -1, /) -> bytes:
        block = self._data.read(size)
        if not block:
            raise ConnectionResetError("S3 connection reset")
        return block


@dataclass
class Downstream:
    """Answers each POST with the next of ``answers`` (an int status or an exception)."""

    answers: list[int | Exception] = field(default_factory=lambda: [200])
    posts: list[dict[str, Any]] = field(default_factory=list)

    def post(
        self, body: Readable, *, length: int | None, idempotency_key: str, token: str
    ) -> DownstreamResponse:
        received = b""
        while block := body.read(64):
            received += block
        self.posts.append(
            {"body": received, "length": length, "key": idempotency_key, "token": token}
        )
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return DownstreamResponse(answer, excerpt=f"answer {answer}")


@dataclass
class Tokens:
    values: list[str] = field(default_factory=lambda: ["token-1"])
    error: Exception | None = None
    calls: list[bool] = field(default_factory=list)
    forgotten: int = 0

    def token(self, *, refresh: bool = False) -> str:
        self.calls.append(refresh)
        if self.error is not None:
            raise self.error
        return self.values.pop(0) if len(self.values) > 1 else self.values[0]

    def forget(self) -> None:
        self.forgotten += 1


@dataclass
class Setup:
    store: InMemoryCircuitStore = field(default_factory=InMemoryCircuitStore)
    bundles: Bundles = field(default_factory=Bundles)
    downstream: Downstream = field(default_factory=Downstream)
    tokens: Tokens = field(default_factory=Tokens)
    clock: Clock = field(default_factory=Clock)

    @property
    def breaker(self) -> CircuitBreaker:
        return CircuitBreaker(self.store, POLICY, "downstream")

    def deliver(self, owner: str = "exec-1") -> Any:
        return deliver_bundle(
            envelope(),
            breaker=self.breaker,
            bundles=self.bundles,
            downstream=self.downstream,
            tokens=self.tokens,
            owner=owner,
            clock=self.clock,
        )

    def record(self) -> CircuitRecord:
        return self.store.read("downstream")

    def open_circuit(self, at: int = T0) -> None:
        self.store.records["downstream"] = CircuitRecord(
            "downstream", CircuitState.OPEN, 2, opened_at=at, version=1
        )


def test_a_delivery_streams_the_archived_bundle_with_its_key_and_token() -> None:
    setup = Setup()

    report = setup.deliver()

    assert report.outcome is DeliveryOutcome.DELIVERED
    assert report.error() is None
    assert report.delivery() == {"statusCode": 200, "idempotencyKey": SHA, "probe": False}
    [post] = setup.downstream.posts
    assert post == {"body": BUNDLE, "length": len(BUNDLE), "key": SHA, "token": "token-1"}
    assert setup.bundles.opened == [("archive", f"bundles/ab/{SHA}.ndjson.gz")]
    assert setup.bundles.closed == 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, DeliveryOutcome.DELIVERED),
        (204, DeliveryOutcome.DELIVERED),
        (408, DeliveryOutcome.TRANSIENT_FAILURE),
        (429, DeliveryOutcome.TRANSIENT_FAILURE),
        (500, DeliveryOutcome.TRANSIENT_FAILURE),
        (503, DeliveryOutcome.TRANSIENT_FAILURE),
        (400, DeliveryOutcome.PERMANENT_FAILURE),
        (403, DeliveryOutcome.PERMANENT_FAILURE),
        (404, DeliveryOutcome.PERMANENT_FAILURE),
        (413, DeliveryOutcome.PERMANENT_FAILURE),
        (302, DeliveryOutcome.PERMANENT_FAILURE),
    ],
)
def test_statuses_are_classified_as_the_contract_says(
    status: int, outcome: DeliveryOutcome
) -> None:
    assert classify_status(status) is outcome


def test_a_5xx_is_a_transient_error_and_a_counted_failure() -> None:
    setup = Setup(downstream=Downstream([503]))

    report = setup.deliver()

    assert isinstance(report.error(), TransientDeliveryError)
    assert "HTTP 503" in report.detail
    assert report.circuit_change is CircuitChange.FAILURE_COUNTED
    assert setup.record().consecutive_failures == 1


def test_no_answer_at_all_is_a_transient_error_and_a_counted_failure() -> None:
    setup = Setup(downstream=Downstream([DownstreamUnavailableError("connection refused")]))

    report = setup.deliver()

    assert isinstance(report.error(), TransientDeliveryError)
    assert "connection refused" in str(report.error())
    assert report.status_code is None
    assert setup.record().consecutive_failures == 1


def test_a_4xx_is_permanent_and_not_a_breaker_failure_the_endpoint_is_up() -> None:
    setup = Setup(downstream=Downstream([400]))
    setup.store.add_failure("downstream")

    report = setup.deliver()

    assert isinstance(report.error(), PermanentDeliveryError)
    assert "HTTP 400: answer 400" in str(report.error())
    # It answered, so the earlier failure is no longer part of a run of failures.
    assert report.circuit_change is CircuitChange.FAILURES_RESET
    assert setup.record().consecutive_failures == 0


def test_the_threshold_opens_the_circuit_and_later_deliveries_are_refused_unsent() -> None:
    setup = Setup(downstream=Downstream([503]))

    first, second = setup.deliver("e1"), setup.deliver("e2")
    setup.clock.now += 10
    refused = setup.deliver("e3")

    assert [first.circuit_change, second.circuit_change] == [
        CircuitChange.FAILURE_COUNTED,
        CircuitChange.OPENED,
    ]
    assert refused.outcome is DeliveryOutcome.REFUSED
    assert refused.retry_after_seconds == 290
    assert isinstance(refused.error(), CircuitOpenError)
    assert "retry after 290 s" in refused.detail
    assert len(setup.downstream.posts) == 2
    assert setup.bundles.opened == [setup.bundles.opened[0]] * 2


def test_a_due_probe_is_claimed_and_its_success_closes_the_circuit() -> None:
    setup = Setup()
    setup.open_circuit(at=T0)
    setup.clock.now = T0 + 300

    report = setup.deliver("prober")

    assert report.outcome is DeliveryOutcome.DELIVERED
    assert report.probe is True
    assert report.delivery()["probe"] is True
    assert report.circuit_change is CircuitChange.CLOSED
    assert setup.record().state is CircuitState.CLOSED


def test_a_failed_probe_reopens_with_the_time_of_the_failure() -> None:
    setup = Setup(downstream=Downstream([DownstreamUnavailableError("reset")]))
    setup.open_circuit(at=T0)
    setup.clock.now = T0 + 300

    report = setup.deliver("prober")

    assert report.probe is True
    assert report.circuit_change is CircuitChange.REOPENED
    assert setup.record().opened_at == T0 + 300


def test_a_4xx_probe_closes_the_circuit_too() -> None:
    setup = Setup(downstream=Downstream([422]))
    setup.open_circuit(at=T0)
    setup.clock.now = T0 + 300

    report = setup.deliver("prober")

    assert isinstance(report.error(), PermanentDeliveryError)
    assert report.circuit_change is CircuitChange.CLOSED


def test_an_unreadable_archive_hands_the_probe_back_and_counts_nothing() -> None:
    setup = Setup(bundles=Bundles(error=TransientDependencyError("S3 SlowDown")))
    setup.open_circuit(at=T0)
    setup.clock.now = T0 + 300

    with pytest.raises(TransientDependencyError, match="SlowDown"):
        setup.deliver("prober")

    record = setup.record()
    assert (record.state, record.opened_at, record.probe_owner) == (CircuitState.OPEN, T0, None)
    assert record.consecutive_failures == 2
    assert setup.downstream.posts == []


def test_an_archive_stream_that_breaks_mid_post_is_a_dependency_failure_not_the_endpoints() -> None:
    # The HTTP client reports the source's error as its own; the tracked reader tells them apart.
    setup = Setup(
        bundles=Bundles(break_after=100),
        downstream=Downstream([DownstreamUnavailableError("aborted")]),
    )

    with pytest.raises(TransientDependencyError, match="S3 connection reset"):
        setup.deliver()

    assert setup.record().consecutive_failures == 0
    assert setup.bundles.closed == 1


def test_a_token_that_cannot_be_read_costs_no_probe() -> None:
    setup = Setup(tokens=Tokens(error=ConfigurationError("secret missing")))
    setup.open_circuit(at=T0)
    setup.clock.now = T0 + 300

    with pytest.raises(ConfigurationError):
        setup.deliver("prober")

    assert setup.record().state is CircuitState.OPEN


def test_a_401_retries_once_with_a_refreshed_token_when_it_was_rotated() -> None:
    setup = Setup(downstream=Downstream([401, 200]), tokens=Tokens(["old-token", "new-token"]))

    report = setup.deliver()

    assert report.outcome is DeliveryOutcome.DELIVERED
    assert [post["token"] for post in setup.downstream.posts] == ["old-token", "new-token"]
    assert [post["body"] for post in setup.downstream.posts] == [BUNDLE, BUNDLE]
    assert setup.tokens.calls == [False, True]
    assert report.attempts == 2


def test_a_401_with_an_unchanged_token_fails_permanently_after_one_request() -> None:
    setup = Setup(downstream=Downstream([401]))

    report = setup.deliver()

    assert isinstance(report.error(), PermanentDeliveryError)
    assert len(setup.downstream.posts) == 1
    assert setup.tokens.calls == [False, True]


def test_a_breaker_write_failing_after_the_post_does_not_hide_the_delivery() -> None:
    class ThrottledAfterAdmission(InMemoryCircuitStore):
        def reset_failures(self, circuit_id: str) -> bool:
            raise TransientDependencyError("circuit table throttled")

    setup = Setup(store=ThrottledAfterAdmission())
    setup.store.add_failure("downstream")

    report = setup.deliver()

    assert report.outcome is DeliveryOutcome.DELIVERED
    assert report.circuit_update_error == "circuit table throttled"
    assert report.circuit_change is CircuitChange.UNCHANGED


def test_a_long_error_page_is_cut_in_the_message() -> None:
    class Verbose(Downstream):
        def post(
            self, body: Readable, *, length: int | None, idempotency_key: str, token: str
        ) -> DownstreamResponse:
            return DownstreamResponse(400, excerpt="x" * 5000)

    setup = Setup(downstream=Verbose())

    message = str(setup.deliver().error())

    # The excerpt and the advice around it; the status record keeps up to 1,000 characters.
    assert len(message) < 700
    assert "...)" in message


@pytest.mark.parametrize(
    "change",
    [
        {"bundle": {"sha256": "not-a-sha"}},
        {"bundle": {"sha256": "AB" * 32}},
        {"archive": {"bucket": "", "key": "k"}},
        {"archive": None},
        {"trackingId": "  "},
    ],
)
def test_an_envelope_without_a_usable_archive_or_digest_is_refused(change: dict[str, Any]) -> None:
    document = {
        "trackingId": "trk-1",
        "archive": {"bucket": "archive", "key": "k"},
        "bundle": {"sha256": SHA},
        **change,
    }

    with pytest.raises(ValidationError):
        DeliveryEnvelope.model_validate(document)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_token_is_forgotten_so_that_a_redrive_reads_the_secret_again(
    status: int,
) -> None:
    setup = Setup(downstream=Downstream([status]), tokens=Tokens(["only-token"]))

    report = setup.deliver()

    error = report.error()
    assert isinstance(error, PermanentDeliveryError)
    assert f"HTTP {status}" in str(error)
    assert "redrive" in str(error)
    assert setup.tokens.calls == [False, True]
    assert setup.tokens.forgotten == 1


def test_a_403_with_a_rotated_token_is_retried_and_nothing_is_forgotten() -> None:
    setup = Setup(downstream=Downstream([403, 200]), tokens=Tokens(["old-token", "new-token"]))

    report = setup.deliver()

    assert report.delivered
    assert report.attempts == 2
    assert setup.tokens.forgotten == 0


def test_a_400_keeps_the_cached_token() -> None:
    setup = Setup(downstream=Downstream([400]))

    report = setup.deliver()

    assert report.outcome is DeliveryOutcome.PERMANENT_FAILURE
    assert setup.tokens.calls == [False]
    assert setup.tokens.forgotten == 0
