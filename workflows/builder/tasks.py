"""Task states: the Lambda invoke integration."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from workflows.builder.exceptions import DefinitionError
from workflows.builder.graph import NextableState, RenderContext, State
from workflows.builder.paths import ResultPath, check_path, render_result_path
from workflows.builder.retry import Catch, Retry, render_error_handling

LAMBDA_INVOKE_RESOURCE: Final = "arn:aws:states:::lambda:invoke"
DEFAULT_TASK_TIMEOUT_SECONDS: Final = 60


@dataclass(eq=False, kw_only=True)
class LambdaInvoke(NextableState):
    """Invokes the Lambda ``function`` (its logical name in the stack) synchronously.

    By default the whole state is the payload (``"Payload.$": "$"``) and only the Lambda's answer is
    kept (``"OutputPath": "$.Payload"``), so each Lambda is a function envelope -> envelope.
    ``TimeoutSeconds`` is always set (a Task without one can wait for a year), and transient Lambda
    service errors are retried first (:meth:`Retry.lambda_service_errors`) unless
    ``retry_on_service_errors=False``.

    Example::

        LambdaInvoke(
            "Drop duplicates",
            function="dedupe",
            retry=[Retry.on(TransientDependencyError, interval=1, max_attempts=3)],
            catch=[Catch.on(StatesError.ALL, next=on_failure, result_path="$.error")],
        )
    """

    function: str
    payload: Mapping[str, Any] | None = None
    result_selector: Mapping[str, Any] | None = None
    result_path: ResultPath = None
    output_path: str | None = "$.Payload"
    timeout_seconds: int = DEFAULT_TASK_TIMEOUT_SECONDS
    retry: Sequence[Retry] = ()
    catch: Sequence[Catch] = ()
    retry_on_service_errors: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.function:
            raise DefinitionError(f"task {self.name!r} names no function")
        if self.timeout_seconds < 1:
            raise DefinitionError(f"task {self.name!r} needs a positive TimeoutSeconds")
        check_path("OutputPath", self.output_path)
        # Copied so that later edits to the caller's lists cannot change a built state.
        self.retry = tuple(self.retry)
        self.catch = tuple(self.catch)

    def transitions(self) -> tuple[State, ...]:
        return (*super().transitions(), *(entry.handler for entry in self.catch))

    def function_names(self) -> frozenset[str]:
        return frozenset({self.function})

    def render(self, context: RenderContext) -> dict[str, Any]:
        parameters: dict[str, Any] = {"FunctionName": context.function_arn(self.function)}
        if self.payload is None:
            parameters["Payload.$"] = "$"
        else:
            parameters["Payload"] = copy.deepcopy(dict(self.payload))
        rendered = self._head("Task")
        rendered["Resource"] = LAMBDA_INVOKE_RESOURCE
        rendered["Parameters"] = parameters
        rendered["TimeoutSeconds"] = self.timeout_seconds
        if self.result_selector is not None:
            rendered["ResultSelector"] = copy.deepcopy(dict(self.result_selector))
        rendered.update(render_result_path(self.result_path))
        if self.output_path is not None:
            rendered["OutputPath"] = self.output_path
        retry = tuple(self.retry)
        if self.retry_on_service_errors:
            retry = (Retry.lambda_service_errors(), *retry)
        rendered.update(render_error_handling(retry, self.catch))
        return rendered | self._tail()
