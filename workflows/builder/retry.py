"""Retriers and catchers as values, with the named policies a workflow should reach for first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from workflows.builder.error_names import ErrorRef, LambdaError, StatesError, error_name
from workflows.builder.exceptions import DefinitionError
from workflows.builder.graph import Chain, State, start_of
from workflows.builder.paths import check_path

# ASL caps MaxDelaySeconds below one year plus a day.
_MAX_DELAY_LIMIT = 31_622_401


class JitterStrategy(StrEnum):
    FULL = "FULL"
    NONE = "NONE"


def _names(errors: Sequence[ErrorRef]) -> tuple[str, ...]:
    if not errors:
        raise DefinitionError("a retrier or catcher needs at least one error to match")
    names = tuple(error_name(error) for error in errors)
    if StatesError.ALL.value in names and len(names) > 1:
        raise DefinitionError("States.ALL must be the only error of its retrier or catcher")
    return names


@dataclass(frozen=True)
class Retry:
    """One ``Retry`` entry: which errors, and how long to wait between attempts.

    Example::

        Retry.on(TransientDependencyError, interval=1, max_attempts=3, backoff=2)
    """

    errors: tuple[str, ...]
    interval_seconds: int = 1
    max_attempts: int = 3
    backoff_rate: float = 2.0
    max_delay_seconds: int | None = None
    jitter: JitterStrategy | None = None

    def __post_init__(self) -> None:
        if self.interval_seconds < 1:
            raise DefinitionError("IntervalSeconds must be at least 1")
        if self.max_attempts < 0:
            raise DefinitionError("MaxAttempts cannot be negative")
        if self.backoff_rate < 1.0:
            raise DefinitionError("BackoffRate must be at least 1.0")
        if self.max_delay_seconds is not None and not (
            0 < self.max_delay_seconds < _MAX_DELAY_LIMIT
        ):
            raise DefinitionError(f"MaxDelaySeconds must be between 1 and {_MAX_DELAY_LIMIT - 1}")

    @classmethod
    def on(
        cls,
        *errors: ErrorRef,
        interval: int = 1,
        max_attempts: int = 3,
        backoff: float = 2.0,
        max_delay: int | None = None,
        jitter: JitterStrategy | None = None,
    ) -> Retry:
        """Retry ``errors`` (exception classes or service error constants).

        Example::

            Retry.on(StatesError.TIMEOUT, interval=5, max_attempts=2).render()
            # {"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 5, "MaxAttempts": 2,
            #  "BackoffRate": 2.0}
        """
        return cls(
            errors=_names(errors),
            interval_seconds=interval,
            max_attempts=max_attempts,
            backoff_rate=backoff,
            max_delay_seconds=max_delay,
            jitter=jitter,
        )

    @classmethod
    def lambda_service_errors(cls, max_delay: int = 30) -> Retry:
        """AWS's recommended retrier for transient Lambda service errors and throttling.

        2 s, doubling, 6 attempts, each wait capped at ``max_delay`` and spread with full jitter so
        that throttled executions do not come back in step. ``LambdaInvoke`` adds it by default.

        Example::

            LambdaInvoke("Validate events", function="validate", retry_on_service_errors=False,
                         retry=[Retry.lambda_service_errors(max_delay=10)])
        """
        return cls.on(
            LambdaError.SERVICE,
            LambdaError.AWS_LAMBDA,
            LambdaError.SDK_CLIENT,
            LambdaError.TOO_MANY_REQUESTS,
            interval=2,
            max_attempts=6,
            backoff=2,
            max_delay=max_delay,
            jitter=JitterStrategy.FULL,
        )

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "ErrorEquals": list(self.errors),
            "IntervalSeconds": self.interval_seconds,
            "MaxAttempts": self.max_attempts,
            "BackoffRate": float(self.backoff_rate),
        }
        if self.max_delay_seconds is not None:
            rendered["MaxDelaySeconds"] = self.max_delay_seconds
        if self.jitter is not None:
            rendered["JitterStrategy"] = self.jitter.value
        return rendered


@dataclass(frozen=True, eq=False)
class Catch:
    """One ``Catch`` entry: which errors, where to go, and where to put the error object.

    Example::

        Catch.on(StatesError.ALL, next=record_failure, result_path="$.error")
    """

    errors: tuple[str, ...]
    handler: State
    result_path: str | None = None

    @classmethod
    def on(cls, *errors: ErrorRef, next: State | Chain, result_path: str | None = None) -> Catch:
        """Catch ``errors`` and continue at ``next``; ``result_path`` keeps the input beside the
        error (``{"Error": ..., "Cause": ...}``) instead of replacing it."""
        check_path("ResultPath", result_path)
        return cls(errors=_names(errors), handler=start_of(next), result_path=result_path)

    def render(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {"ErrorEquals": list(self.errors), "Next": self.handler.name}
        if self.result_path is not None:
            rendered["ResultPath"] = self.result_path
        return rendered


def _check_all_last(kind: str, entries: Sequence[Retry | Catch]) -> None:
    for entry in entries[:-1]:
        if StatesError.ALL.value in entry.errors:
            raise DefinitionError(f"a {kind} on States.ALL must come last")


def render_error_handling(retry: Sequence[Retry], catch: Sequence[Catch]) -> dict[str, Any]:
    """The ``Retry`` and ``Catch`` fields of a state (omitted when empty)."""
    _check_all_last("Retry", retry)
    _check_all_last("Catch", catch)
    rendered: dict[str, Any] = {}
    if retry:
        rendered["Retry"] = [entry.render() for entry in retry]
    if catch:
        rendered["Catch"] = [entry.render() for entry in catch]
    return rendered
