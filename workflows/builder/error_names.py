"""Names that ``Retry``, ``Catch`` and ``Fail`` match or raise.

A Lambda's error reaches Step Functions as its exception class name (``errorType``), so workflows
name errors by the class itself: a renamed exception then breaks the import, not the retrier.
Plain strings are refused on purpose; a typo in a string silently never matches.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeAlias


class StatesError(StrEnum):
    """Errors raised by Step Functions itself (the ``States.*`` names).

    Example::

        Retry.on(StatesError.TIMEOUT, max_attempts=2)
    """

    ALL = "States.ALL"
    HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
    TIMEOUT = "States.Timeout"
    TASK_FAILED = "States.TaskFailed"
    PERMISSIONS = "States.Permissions"
    RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
    PARAMETER_PATH_FAILURE = "States.ParameterPathFailure"
    BRANCH_FAILED = "States.BranchFailed"
    NO_CHOICE_MATCHED = "States.NoChoiceMatched"
    INTRINSIC_FAILURE = "States.IntrinsicFailure"
    EXCEED_TOLERATED_FAILURE_THRESHOLD = "States.ExceedToleratedFailureThreshold"
    ITEM_READER_FAILED = "States.ItemReaderFailed"
    RESULT_WRITER_FAILED = "States.ResultWriterFailed"
    RUNTIME = "States.Runtime"


class LambdaError(StrEnum):
    """Errors of the Lambda service, as the ``lambda:invoke`` integration reports them."""

    SERVICE = "Lambda.ServiceException"
    AWS_LAMBDA = "Lambda.AWSLambdaException"
    SDK_CLIENT = "Lambda.SdkClientException"
    TOO_MANY_REQUESTS = "Lambda.TooManyRequestsException"
    CLIENT_EXECUTION_TIMEOUT = "Lambda.ClientExecutionTimeoutException"
    UNKNOWN = "Lambda.Unknown"


ErrorRef: TypeAlias = type[BaseException] | StatesError | LambdaError
"""An error as a workflow names it: an exception class, or a service error constant."""


def error_name(error: ErrorRef) -> str:
    """The name Step Functions matches for ``error``.

    Example::

        error_name(TransientDependencyError)  # "TransientDependencyError"
        error_name(StatesError.ALL)  # "States.ALL"
    """
    if isinstance(error, StatesError | LambdaError):
        return error.value
    return error.__name__
