"""Patch 1: ``lambda:invoke`` tasks run our Lambda workers (through a dispatcher) instead of
needing Docker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from local.moto_patches.patch_context import context, moto_module


class InvocationOutcome(Protocol):
    @property
    def payload(self) -> bytes: ...

    @property
    def function_error(self) -> str | None: ...


class LambdaThrottledError(Exception):
    """The function's concurrency is exhausted (Lambda's ``TooManyRequestsException``)."""


class LambdaNotFoundError(Exception):
    """No such function (Lambda's ``ResourceNotFoundException``)."""


LambdaDispatcher = Callable[[str, bytes], InvocationOutcome]


def _client_error(code: str, message: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    error: Exception = ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
        },
        "Invoke",
    )
    return error


def _decode_payload(raw: bytes) -> Any:
    text = raw.decode("utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def invoke_through_dispatcher(function_name: str, payload: bytes) -> dict[str, Any]:
    """Lambda's ``Invoke`` answer for ``function_name``, produced by the registered dispatcher."""
    dispatcher = context().dispatcher
    if dispatcher is None:
        raise _client_error("ServiceException", "the local Lambda service is not running", 500)
    try:
        outcome = dispatcher(function_name, payload)
    except LambdaThrottledError as error:
        raise _client_error("TooManyRequestsException", str(error), 429) from error
    except LambdaNotFoundError as error:
        raise _client_error("ResourceNotFoundException", str(error), 404) from error
    response: dict[str, Any] = {
        "StatusCode": 200,
        "ExecutedVersion": "$LATEST",
        "Payload": _decode_payload(outcome.payload),
    }
    if outcome.function_error:
        response["FunctionError"] = outcome.function_error
    return response


def patch_lambda_invoke() -> None:
    lambda_eval_utils = moto_module(
        "moto.stepfunctions.parser.asl.component.state.exec.state_task.lambda_eval_utils"
    )

    def invoke(parameters: dict[str, Any], region: str, state_credentials: Any) -> dict[str, Any]:
        payload = parameters.get("Payload") or b"{}"
        if isinstance(payload, str):
            payload = payload.encode()
        return invoke_through_dispatcher(str(parameters["FunctionName"]), payload)

    lambda_eval_utils._invoke_lambda_function = invoke
