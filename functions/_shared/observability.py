"""Powertools settings shared by every handler, and how the workflow steps report the failures
they all have.

Logger, Tracer and Metrics are created in each handler module (each Lambda is its own service);
this module only holds what they must agree on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from functions._shared import names
from functions._shared.errors import InvalidEnvelopeError, TransientDependencyError

# JMESPath into the envelope: every log line of an execution carries its tracking id as the
# correlation id, so one query finds a batch's whole path through the workflow.
CORRELATION_ID_PATH: Final = "trackingId"


def metrics_namespace() -> str:
    """The CloudWatch namespace: ``POWERTOOLS_METRICS_NAMESPACE`` or the project's default.

    A default matters because Powertools refuses to flush metrics without a namespace, and a
    missing variable should not fail an invocation that did its work.
    """
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or names.METRICS_NAMESPACE


@contextmanager
def step_failures_reported(logger: Logger, metrics: Metrics, *, unavailable: str) -> Iterator[None]:
    """Count and log a rejected envelope (``EnvelopesRejected``) or a failed dependency
    (``DependencyFailures``, with its traceback; ``unavailable`` says which), then let it fail
    the invocation: the workflow routes on the error's name, so it must pass unchanged.

    Example::

        with step_failures_reported(logger, metrics, unavailable="S3 unavailable"):
            outcome = archive_bundle(parse_envelope(event, ArchiveEnvelope), store, ...)
    """
    try:
        yield
    except InvalidEnvelopeError as error:
        metrics.add_metric(name="EnvelopesRejected", unit=MetricUnit.Count, value=1)
        logger.warning("Envelope rejected", extra={"reason": str(error)})
        raise
    except TransientDependencyError:
        metrics.add_metric(name="DependencyFailures", unit=MetricUnit.Count, value=1)
        logger.exception(f"{unavailable}; the workflow will retry")
        raise
