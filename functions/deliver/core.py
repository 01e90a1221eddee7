"""Deliver an archived bundle downstream behind the circuit breaker; no I/O beyond the ports.

The order of the steps is the point:

1. The token first (cached): a secret that cannot be read must not cost a probe.
2. Admission: a closed circuit lets the call go; a due probe is claimed; otherwise refused.
3. The POST streams the bundle from the archive, never holding it whole in memory.
4. The outcome is recorded in the breaker. What counts as the endpoint failing is decided by
   :func:`classify_status`: no answer, a timeout, 5xx, 429 and 408 are failures; any other
   answer, 4xx included, proves the endpoint is up (a bad bundle or a bad token says nothing
   about availability), so it counts as a success for the breaker even though the delivery
   itself failed permanently.
5. A call that never reached the endpoint (the archive could not be read) hands a held probe
   back, so the next caller may probe at once instead of waiting for it to go stale.

A breaker write that fails *after* the POST is reported, not raised: the delivery's own outcome
is what the workflow must act on (raising would re-deliver a bundle that already arrived).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, Protocol

from pydantic import BaseModel, ConfigDict, Field

from functions._shared.errors import (
    CircuitOpenError,
    PermanentDeliveryError,
    StepflowError,
    TransientDeliveryError,
    TransientDependencyError,
)
from functions._shared.models import TrackingId
from functions.deliver.circuit import CircuitBreaker, CircuitChange, Permit, Recorded, Refusal

# Answers that say the token is wrong: the secret may have been rotated since it was cached.
AUTHORIZATION_REFUSED: Final = frozenset({401, 403})

# Step Functions keeps 32,768 characters of an error's cause; an endpoint's error page is cut
# well before that so the rest of the message survives.
MAX_RESPONSE_EXCERPT: Final = 512

_SHA256_HEX: Final = r"^[0-9a-f]{64}$"


class ArchiveLocation(BaseModel):
    model_config = ConfigDict(extra="allow")

    bucket: str = Field(min_length=1)
    key: str = Field(min_length=1)


class BundleDigest(BaseModel):
    model_config = ConfigDict(extra="allow")

    sha256: str = Field(pattern=_SHA256_HEX)


class DeliveryEnvelope(BaseModel):
    """What deliver needs from archive's output; every other key passes through unread.

    >>> envelope = DeliveryEnvelope.model_validate({"trackingId": "trk-1",
    ...     "archive": {"bucket": "archive", "key": "bundles/ab/ab.ndjson.gz"},
    ...     "bundle": {"sha256": "ab" * 32, "count": 2}, "park": {"checks": 0}})
    >>> envelope.idempotency_key == "ab" * 32, envelope.archive.key
    (True, 'bundles/ab/ab.ndjson.gz')
    """

    model_config = ConfigDict(extra="allow")

    tracking_id: TrackingId = Field(alias="trackingId")
    archive: ArchiveLocation
    bundle: BundleDigest

    @property
    def idempotency_key(self) -> str:
        """The bundle's sha256: the same content is the same key on every retry and redrive."""
        return self.bundle.sha256


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass
class OpenedBundle:
    """A bundle being read: its byte stream and, when known, its length (for Content-Length)."""

    stream: Readable
    length: int | None = None

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if callable(close):
            close()


class BundleSource(Protocol):
    def open(self, bucket: str, key: str) -> OpenedBundle:
        """Start reading a bundle; :class:`TransientDependencyError` when the store is busy."""
        ...


@dataclass(frozen=True)
class DownstreamResponse:
    status: int
    excerpt: str = ""
    """The start of the response body, for error messages."""


class DownstreamUnavailableError(Exception):
    """No HTTP answer: connection refused or reset, a timeout, a TLS failure."""


class Downstream(Protocol):
    def post(
        self, body: Readable, *, length: int | None, idempotency_key: str, token: str
    ) -> DownstreamResponse:
        """POST the gzip NDJSON ``body``; raises :class:`DownstreamUnavailableError` when the
        endpoint gives no HTTP answer."""
        ...


class TokenSource(Protocol):
    def token(self, *, refresh: bool = False) -> str:
        """The bearer token; ``refresh`` bypasses any cache (after a 401)."""
        ...

    def forget(self) -> None:
        """Drop any cached token, so that the next :meth:`token` reads the secret again."""
        ...


class SourceReadError(Exception):
    """Reading the bundle failed while it was being sent (raised out of the HTTP client)."""


class TrackedReader:
    """Passes reads through and remembers a failure of the *source*, so that a broken archive
    stream is not mistaken for the endpoint failing (the HTTP client wraps both alike)."""

    def __init__(self, stream: Readable) -> None:
        self._stream = stream
        self.failure: BaseException | None = None

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._stream.read(size)
        except Exception as error:
            self.failure = error
            raise SourceReadError(f"reading the bundle failed: {error}") from error


class DeliveryOutcome(StrEnum):
    DELIVERED = "DELIVERED"
    REFUSED = "REFUSED"
    TRANSIENT_FAILURE = "TRANSIENT_FAILURE"
    PERMANENT_FAILURE = "PERMANENT_FAILURE"


def classify_status(status: int) -> DeliveryOutcome:
    """What an HTTP status means for the delivery.

    2xx delivered; 429 (slow down), 408 (the server timed out) and 5xx are worth retrying;
    anything else (other 4xx, and 1xx/3xx, which mean a wrong URL) cannot get better by itself.

    >>> [classify_status(code).value for code in (200, 202, 429, 503, 400, 401, 301)]
    ['DELIVERED', 'DELIVERED', 'TRANSIENT_FAILURE', 'TRANSIENT_FAILURE', 'PERMANENT_FAILURE', \
'PERMANENT_FAILURE', 'PERMANENT_FAILURE']
    """
    if 200 <= status < 300:
        return DeliveryOutcome.DELIVERED
    if status in (408, 429) or status >= 500:
        return DeliveryOutcome.TRANSIENT_FAILURE
    return DeliveryOutcome.PERMANENT_FAILURE


@dataclass(frozen=True)
class DeliveryReport:
    """Everything the handler needs to answer, raise and emit metrics; built by
    :func:`deliver_bundle`."""

    outcome: DeliveryOutcome
    idempotency_key: str
    probe: bool = False
    status_code: int | None = None
    detail: str = ""
    retry_after_seconds: int = 0
    circuit_change: CircuitChange = CircuitChange.UNCHANGED
    circuit_failures: int | None = None
    circuit_update_error: str | None = None
    attempts: int = 0

    @property
    def delivered(self) -> bool:
        return self.outcome is DeliveryOutcome.DELIVERED

    def delivery(self) -> dict[str, Any]:
        """The ``delivery`` object of the contract.

        >>> DeliveryReport(DeliveryOutcome.DELIVERED, "ab" * 32, status_code=200).delivery()
        ... # doctest: +ELLIPSIS
        {'statusCode': 200, 'idempotencyKey': 'abab...', 'probe': False}
        """
        return {
            "statusCode": self.status_code,
            "idempotencyKey": self.idempotency_key,
            "probe": self.probe,
        }

    def error(self) -> StepflowError | None:
        """The error the Lambda raises for this outcome (its class name is the workflow's
        contract), or ``None`` when delivered.

        >>> DeliveryReport(DeliveryOutcome.PERMANENT_FAILURE, "k", detail="HTTP 400").error()
        ... # doctest: +NORMALIZE_WHITESPACE
        PermanentDeliveryError('the downstream refused the bundle for good (HTTP 400);
        fix the cause and redrive the execution')
        """
        if self.outcome is DeliveryOutcome.REFUSED:
            return CircuitOpenError(self.detail)
        if self.outcome is DeliveryOutcome.TRANSIENT_FAILURE:
            return TransientDeliveryError(self.detail)
        if self.outcome is DeliveryOutcome.PERMANENT_FAILURE:
            # The workflow parks on this error and records its message as the reason.
            return PermanentDeliveryError(
                f"the downstream refused the bundle for good ({self.detail}); "
                "fix the cause and redrive the execution"
            )
        return None


def scaled_clock(scale: float, source: Callable[[], float] = time.time) -> Callable[[], float]:
    """Epoch seconds as the breaker sees them: ``source() / scale``.

    ``scale`` is the local runtime's time scale (a 300 s ``Wait`` sleeps ``300 * scale``), so
    the breaker's cooldown passes exactly as fast as the workflow's wait for it. Every worker
    process divides the same wall clock by the same number, so they agree. On AWS it is 1.

    >>> scaled_clock(0.01, source=lambda: 3.0)()
    300.0
    >>> scaled_clock(1.0) is time.time
    True
    """
    if scale == 1.0:
        return source
    return lambda: source() / scale


def epoch_seconds(clock: Callable[[], float]) -> int:
    """Whole epoch seconds, rounded down, as stored in the circuit record.

    >>> epoch_seconds(lambda: 1_700_000_000.9)
    1700000000
    """
    return math.floor(clock())


def deliver_bundle(
    envelope: DeliveryEnvelope,
    *,
    breaker: CircuitBreaker,
    bundles: BundleSource,
    downstream: Downstream,
    tokens: TokenSource,
    owner: str,
    clock: Callable[[], float],
) -> DeliveryReport:
    """POST the archived bundle if the breaker allows it, and record what happened.

    ``owner`` names this attempt (it holds the probe, if any); ``clock`` gives epoch seconds
    and is read at admission and again after the POST. Dependency failures before the POST
    (:class:`TransientDependencyError` from the archive) are raised after handing back a held
    probe; everything about the endpoint is in the returned report.

    Example::

        report = deliver_bundle(envelope, breaker=breaker, bundles=S3BundleSource(),
                                downstream=HttpDownstream(url), tokens=SecretTokenSource(name),
                                owner=request_id, clock=time.time)
        if (error := report.error()) is not None:
            raise error
    """
    key = envelope.idempotency_key
    token = tokens.token()
    admission = breaker.admit(owner, now=epoch_seconds(clock))
    if isinstance(admission, Refusal):
        return DeliveryReport(
            DeliveryOutcome.REFUSED,
            key,
            detail=str(admission.error()),
            retry_after_seconds=admission.retry_after_seconds,
        )
    permit = admission
    attempts = 0
    try:
        attempts += 1
        response = _post_bundle(envelope, bundles, downstream, token)
        if response.status in AUTHORIZATION_REFUSED:
            # The cached token may predate a rotation: one retry with a fresh one, and only if
            # it differs, so a plainly wrong token fails after a single request.
            fresh = tokens.token(refresh=True)
            if fresh != token:
                attempts += 1
                response = _post_bundle(envelope, bundles, downstream, fresh)
            if response.status in AUTHORIZATION_REFUSED:
                # Parked until an operator rotates the secret: the redrive must read it anew,
                # however young the cached value.
                tokens.forget()
    except DownstreamUnavailableError as error:
        recorded, update_error = _record(breaker.record_failure, permit, clock)
        return DeliveryReport(
            DeliveryOutcome.TRANSIENT_FAILURE,
            key,
            probe=permit.probe,
            detail=f"downstream unreachable: {error}",
            circuit_change=recorded.change,
            circuit_failures=recorded.failures,
            circuit_update_error=update_error,
            attempts=attempts,
        )
    except BaseException:
        _abandon(breaker, permit)
        raise

    outcome = classify_status(response.status)
    record = (
        breaker.record_failure
        if outcome is DeliveryOutcome.TRANSIENT_FAILURE
        else breaker.record_success
    )
    recorded, update_error = _record(record, permit, clock)
    detail = ""
    if outcome is DeliveryOutcome.TRANSIENT_FAILURE:
        detail = f"downstream answered {_describe(response)}"
    elif outcome is DeliveryOutcome.PERMANENT_FAILURE:
        detail = _describe(response)
    return DeliveryReport(
        outcome,
        key,
        probe=permit.probe,
        status_code=response.status,
        detail=detail,
        circuit_change=recorded.change,
        circuit_failures=recorded.failures,
        circuit_update_error=update_error,
        attempts=attempts,
    )


def _post_bundle(
    envelope: DeliveryEnvelope, bundles: BundleSource, downstream: Downstream, token: str
) -> DownstreamResponse:
    opened = bundles.open(envelope.archive.bucket, envelope.archive.key)
    reader = TrackedReader(opened.stream)
    try:
        return downstream.post(
            reader, length=opened.length, idempotency_key=envelope.idempotency_key, token=token
        )
    except Exception as error:
        if reader.failure is not None:
            raise TransientDependencyError(
                f"reading s3://{envelope.archive.bucket}/{envelope.archive.key} failed while "
                f"sending it: {reader.failure}"
            ) from reader.failure
        if isinstance(error, SourceReadError):
            raise TransientDependencyError(str(error)) from error
        raise
    finally:
        opened.close()


def _record(
    record: Callable[[Permit, int], Recorded], permit: Permit, clock: Callable[[], float]
) -> tuple[Recorded, str | None]:
    try:
        return record(permit, epoch_seconds(clock)), None
    except TransientDependencyError as error:
        # An unrecorded failure is made up for by the next one (the trip condition is >=); an
        # unrecorded probe outcome goes stale and is probed again.
        return Recorded(CircuitChange.UNCHANGED), str(error)


def _abandon(breaker: CircuitBreaker, permit: Permit) -> None:
    try:
        breaker.abandon(permit)
    except Exception:
        # The error that got us here is the one to report. A probe left held goes stale after
        # probe_stale_seconds and is claimed again.
        return


def _describe(response: DownstreamResponse) -> str:
    excerpt = response.excerpt.strip()
    if len(excerpt) > MAX_RESPONSE_EXCERPT:
        excerpt = excerpt[:MAX_RESPONSE_EXCERPT] + "..."
    return f"HTTP {response.status}" + (f": {excerpt}" if excerpt else "")
