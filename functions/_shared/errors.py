"""Exceptions that cross the Lambda boundary.

Step Functions matches a failed Task by the exception's class name (Lambda reports it as
``errorType``), so these names are the workflow's error contract: renaming one silently breaks
every ``Retry``/``Catch`` that lists it.
"""

from __future__ import annotations


class StepflowError(Exception):
    """Base of every error raised on purpose by the functions of this project."""


class InvalidEnvelopeError(StepflowError):
    """The envelope itself is unusable (no ``trackingId``, ``events`` not a list, ...).

    Permanent: retrying the same input can only fail the same way, so workflows do not retry it.
    Bad *events* never raise this; they are reported as rejected inside a good envelope.
    """


class TransientDependencyError(StepflowError):
    """A dependency failed in a way that a later retry may not (throttling, 5xx, timeouts).

    Workflows retry it with backoff. Every step is idempotent, so a retry after a partial
    success is safe.
    """


class ConfigurationError(StepflowError):
    """The function's environment is missing or holds a wrong setting; raised at cold start."""


class TransientDeliveryError(StepflowError):
    """The downstream endpoint failed in a way a later attempt may not (connection, 5xx, 429).

    The workflow retries it with backoff, then re-checks the circuit breaker.
    """


class PermanentDeliveryError(StepflowError):
    """The downstream endpoint refused the bundle (a 4xx other than 429): retrying cannot help."""


class CircuitOpenError(StepflowError):
    """The circuit breaker is open and no probe is due (or another execution holds the probe).

    Uncaught on the final delivery attempt, so the execution fails there with its work parked
    and ``RedriveExecution`` re-runs exactly that step.
    """


class ProviderThrottledError(StepflowError):
    """The enrichment provider kept answering 429 after the in-call retries; retried later."""


class ProviderUnavailableError(StepflowError):
    """The enrichment provider kept failing (5xx, connection errors); retried later."""


class CatalogSourceError(StepflowError):
    """The S3 object a catalog points at is missing or malformed: permanent, recorded as FAILED."""
