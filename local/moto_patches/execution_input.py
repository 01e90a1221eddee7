"""What ``StartExecution`` and ``StartSyncExecution`` refuse at the call, as AWS does: input that
is not JSON, and input over the 262,144-byte state limit (UTF-8 bytes), which moto accepted and
let fail later. (https://docs.aws.amazon.com/step-functions/latest/dg/limits-overview.html)"""

from __future__ import annotations

import json

from local.moto_patches.patch_context import moto_module

MAX_INPUT_BYTES = 262_144


def service_error(code: str, message: str) -> Exception:
    """An AWS error answer (HTTP 400) with the ``code`` clients match on."""
    AWSError = moto_module("moto.core.exceptions").AWSError

    error: Exception = AWSError(message, exception_type=code, status=400)
    return error


def check_execution_input(text: str | None) -> None:
    """Raise ``InvalidExecutionInput`` for ``text`` that no execution may start with.

    >>> check_execution_input('{"ok": true}')  # accepted: nothing raised
    """
    if text is None:
        return
    size = len(text.encode("utf-8"))
    if size > MAX_INPUT_BYTES:
        raise service_error(
            "InvalidExecutionInput",
            f"The input is {size} bytes; the most an execution accepts is {MAX_INPUT_BYTES}.",
        )
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise service_error(
            "InvalidExecutionInput", f"Invalid State Machine Execution Input: '{error}'"
        ) from error
