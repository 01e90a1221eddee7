"""Lambda entry point of deliver: ``{"action": "check"}`` or archive's envelope in.

A check answers ``{"state", "allow", "retryAfterSeconds"}`` and writes nothing. An envelope is
delivered and comes back with ``delivery``; failures raise the errors the workflow routes on
(``TransientDeliveryError``, ``PermanentDeliveryError``, ``CircuitOpenError``,
``TransientDependencyError``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions._shared.errors import (
    CircuitOpenError,
    InvalidEnvelopeError,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from functions._shared.parsing import parse_envelope
from functions._shared.scaffold import (
    ENVELOPE_REJECTED,
    Failure,
    Scaffold,
    dependency_failed,
)
from functions._shared.settings import load_settings
from functions.deliver.adapters import (
    DynamoDbCircuitStore,
    HttpDownstream,
    S3BundleSource,
    SecretTokenSource,
)
from functions.deliver.breaker_closed import ParkedWorkRedriver
from functions.deliver.circuit import CircuitBreaker, CircuitChange
from functions.deliver.core import (
    DeliveryEnvelope,
    DeliveryOutcome,
    DeliveryReport,
    deliver_bundle,
    epoch_seconds,
    scaled_clock,
)
from functions.deliver.settings import DeliverSettings

CHECK_ACTION = "check"

settings = load_settings(DeliverSettings)
breaker = CircuitBreaker(
    DynamoDbCircuitStore(settings.table_name), settings.policy(), circuit_id=settings.circuit_id
)
bundle_source = S3BundleSource()
downstream = HttpDownstream(
    settings.downstream_url,
    connect_timeout=settings.connect_timeout_seconds,
    read_timeout=settings.read_timeout_seconds,
)
tokens = SecretTokenSource(settings.secret_name, max_age_seconds=settings.secret_max_age_seconds)
parked_work = ParkedWorkRedriver(settings.redrive_parked_workflow)
# Epoch seconds; a module attribute so tests can move time instead of sleeping through a cooldown.
clock: Callable[[], float] = scaled_clock(settings.clock_scale)

scaffold = Scaffold(
    [
        ENVELOPE_REJECTED,
        dependency_failed("A dependency of deliver failed; the workflow will retry"),
        # Already counted and logged with the delivery's details.
        Failure((TransientDeliveryError, PermanentDeliveryError, CircuitOpenError)),
        # A missing bundle, a wrong secret, a denied permission: nothing a retry can fix.
        Failure((Exception,), "DeliverErrors", "deliver failed unexpectedly", traceback=True),
    ]
)
logger, metrics = scaffold.logger, scaffold.metrics


@scaffold.entry
def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
    return handle(
        event,
        owner=f"{context.aws_request_id}/{uuid.uuid4().hex[:12]}",
        function_arn=context.invoked_function_arn,
    )


def handle(event: Any, owner: str, function_arn: str | None = None) -> dict[str, Any]:
    """The handler without Lambda's decorators and failure reports; ``owner`` names this
    attempt's probe claim; ``function_arn`` (this function's) locates the redrive-parked
    workflow, started when this attempt closes the circuit.

    Example::

        handle({"action": "check"}, owner="local-1")
        # {'state': 'CLOSED', 'allow': True, 'retryAfterSeconds': 0}
    """
    if isinstance(event, dict) and "action" in event:
        return check_circuit(event["action"])
    return deliver(event, owner, function_arn)


def check_circuit(action: object) -> dict[str, Any]:
    if action != CHECK_ACTION:
        raise InvalidEnvelopeError(f"unknown action {action!r}; the only action is 'check'")
    view = breaker.check(now=epoch_seconds(clock))
    metrics.add_metric(name="CircuitChecks", unit=MetricUnit.Count, value=1)
    if not view.allow:
        # Each one is an execution about to wait out the cooldown: parked work, as a rate.
        metrics.add_metric(name="CircuitCheckDenied", unit=MetricUnit.Count, value=1)
    logger.info("Circuit checked", extra=view.to_payload())
    return view.to_payload()


def deliver(event: Any, owner: str, function_arn: str | None = None) -> dict[str, Any]:
    envelope = parse_envelope(event, DeliveryEnvelope)
    if settings.archive_bucket is not None and envelope.archive.bucket != settings.archive_bucket:
        # The role may read only the archive bucket anyway; failing here says why, clearly.
        raise InvalidEnvelopeError(
            f"archive.bucket is {envelope.archive.bucket!r}; deliver reads only "
            f"{settings.archive_bucket!r}"
        )
    logger.append_keys(idempotencyKey=envelope.idempotency_key)
    report = deliver_bundle(
        envelope,
        breaker=breaker,
        bundles=bundle_source,
        downstream=downstream,
        tokens=tokens,
        owner=owner,
        clock=clock,
    )
    _observe(report)
    if report.circuit_change is CircuitChange.CLOSED and function_arn is not None:
        _redrive_parked_work(owner, function_arn)
    error = report.error()
    if error is not None:
        raise error
    # The input came in whole (claim-check pointers, park counters, earlier errors); it goes
    # out whole, plus the delivery.
    return {**event, "delivery": report.delivery()}


def _redrive_parked_work(owner: str, function_arn: str) -> None:
    try:
        started = parked_work.circuit_closed(probe_owner=owner, function_arn=function_arn)
    except Exception:  # the delivery succeeded; a failed trigger must not undo that
        metrics.add_metric(name="ParkedRedriveTriggerFailed", unit=MetricUnit.Count, value=1)
        logger.exception("The circuit closed, but redriving parked work could not be started")
        return
    if started is not None:
        logger.info("The circuit closed: redriving parked work", extra={"execution": started})


def _observe(report: DeliveryReport) -> None:
    details = {
        "outcome": report.outcome.value,
        "statusCode": report.status_code,
        "probe": report.probe,
        "circuitChange": report.circuit_change.value,
        "consecutiveFailures": report.circuit_failures,
        "attempts": report.attempts,
    }
    if report.circuit_change.opened or report.outcome is DeliveryOutcome.REFUSED:
        # One datapoint per opening and per refused delivery: the alarm on this metric fires
        # for an outage and keeps firing while work is being turned away.
        metrics.add_metric(name="CircuitBreakerOpen", unit=MetricUnit.Count, value=1)
    if report.circuit_change is CircuitChange.CLOSED:
        metrics.add_metric(name="CircuitBreakerClosed", unit=MetricUnit.Count, value=1)
    if report.circuit_update_error is not None:
        metrics.add_metric(name="CircuitUpdateFailed", unit=MetricUnit.Count, value=1)
        logger.warning(
            "The outcome could not be recorded in the circuit table",
            extra={"reason": report.circuit_update_error},
        )

    if report.outcome is DeliveryOutcome.DELIVERED:
        metrics.add_metric(name="DeliverySucceeded", unit=MetricUnit.Count, value=1)
        logger.info("Bundle delivered", extra=details)
    elif report.outcome is DeliveryOutcome.REFUSED:
        logger.info(
            "Delivery refused: the circuit is open",
            extra={**details, "retryAfterSeconds": report.retry_after_seconds},
        )
    else:
        metrics.add_metric(name="DeliveryFailed", unit=MetricUnit.Count, value=1)
        logger.warning("Delivery failed", extra={**details, "reason": report.detail})
    if report.circuit_change.opened:
        logger.warning("Circuit opened", extra=details)
