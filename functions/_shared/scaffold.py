"""The one entry-point scaffold of every Lambda: Powertools Logger, Tracer and Metrics around the
handler, the correlation id, and the table that says how each failure is counted and logged.

A failure always leaves the invocation unchanged: the workflows route on the exception's class
name (:mod:`functions._shared.errors`), so the table only decides the metric and the log line.
Its rows are tried in order, like ``except`` clauses; an error no row names passes silently.

Example::

    scaffold = Scaffold(step_failures(unavailable="S3 unavailable"))
    logger, metrics = scaffold.logger, scaffold.metrics

    @scaffold.entry
    def lambda_handler(event: Any, context: LambdaContext) -> dict[str, Any]:
        return archive_bundle(parse_envelope(event, ArchiveEnvelope), store, ...).payload
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from functions._shared.errors import InvalidEnvelopeError, TransientDependencyError
from functions._shared.observability import CORRELATION_ID_PATH, metrics_namespace

HandlerT = TypeVar("HandlerT", bound=Callable[[Any, LambdaContext], Any])


def reason_of(error: BaseException) -> dict[str, Any]:
    return {"reason": str(error)}


@dataclass(frozen=True)
class Failure:
    """One row of the table: the errors it matches, the metric it counts (``None``: none) and
    the log line it writes (``None``: none, the error was reported where it was raised).

    ``traceback`` logs at ERROR with the traceback (something broke); without it, a WARNING
    with ``details(error)`` (the input or a dependency was refused, as designed).
    """

    errors: tuple[type[BaseException], ...]
    metric: str | None = None
    message: str | None = None
    traceback: bool = False
    details: Callable[[BaseException], dict[str, Any]] = field(default=reason_of)


ENVELOPE_REJECTED = Failure((InvalidEnvelopeError,), "EnvelopesRejected", "Envelope rejected")


def dependency_failed(message: str) -> Failure:
    """A dependency failed in a way the workflow retries: counted, logged with its traceback."""
    return Failure((TransientDependencyError,), "DependencyFailures", message, traceback=True)


def step_failures(*, unavailable: str) -> tuple[Failure, ...]:
    """What every workflow step reports: a rejected envelope, and a failed dependency
    (``unavailable`` says which)."""
    return (ENVELOPE_REJECTED, dependency_failed(f"{unavailable}; the workflow will retry"))


class Scaffold:
    """One Lambda's Logger and Metrics (its Tracer: see :meth:`entry`), and its failure table.

    ``correlation_id_path`` is a JMESPath into the event; by default the envelope's tracking id.
    """

    def __init__(
        self,
        failures: Sequence[Failure] = (),
        *,
        correlation_id_path: str = CORRELATION_ID_PATH,
    ) -> None:
        self.failures = tuple(failures)
        self.correlation_id_path = correlation_id_path
        self.logger = Logger()
        self.metrics = Metrics(namespace=metrics_namespace())

    @contextmanager
    def failures_reported(self) -> Iterator[None]:
        """Count and log an error the table names, then let it fail the invocation unchanged."""
        try:
            yield
        except Exception as error:
            self._report(error)
            raise

    def entry(self, work: HandlerT) -> HandlerT:
        """``work`` as the Lambda's handler: Powertools' decorators (a cold-start metric, the
        correlation id, state cleared between invocations) around the failure table."""

        @self.metrics.log_metrics(capture_cold_start_metric=True)
        @wraps(work)
        def measured(event: Any, context: LambdaContext) -> Any:
            with self.failures_reported():
                return work(event, context)

        traced: list[Callable[[Any, LambdaContext], Any]] = []

        @self.logger.inject_lambda_context(
            correlation_id_path=self.correlation_id_path, clear_state=True
        )
        @wraps(work)
        def lambda_handler(event: Any, context: LambdaContext) -> Any:
            if not traced:  # not at import: a Tracer loads the X-Ray SDK even when disabled
                off = Tracer._is_tracer_disabled()
                traced.append(measured if off else Tracer().capture_lambda_handler(measured))
            return traced[0](event, context)

        return cast(HandlerT, lambda_handler)

    def _report(self, error: Exception) -> None:
        row = next((row for row in self.failures if isinstance(error, row.errors)), None)
        if row is None:
            return
        if row.metric is not None:
            self.metrics.add_metric(name=row.metric, unit=MetricUnit.Count, value=1)
        if row.message is None:
            return
        if row.traceback:
            self.logger.exception(row.message)
        else:
            self.logger.warning(row.message, extra=row.details(error))
