"""Which AWS failures a retry may get past, and their translation to
:class:`~functions._shared.errors.TransientDependencyError` (the error workflows retry).

botocore has already retried these a few times before they reach us; what is left either waits
for the workflow's backoff (transient) or passes unchanged (permanent: access denied, a missing
table or bucket, a failed condition), for the caller to handle or the execution to fail on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from functions._shared.errors import TransientDependencyError

# Capacity, throttling and the services' own faults.
TRANSIENT_ERROR_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "LimitExceededException",
    }
)

# S3's own names for "try again": SlowDown and RequestTimeout do not all come as 5xx.
S3_TRANSIENT_CODES: Final = frozenset(
    {"SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable", "Throttling"}
)

_CONNECTION_FAILURES: Final = (BotocoreConnectionError, HTTPClientError)
# An S3 body that breaks off while it is read.
_BROKEN_STREAMS: Final = (IncompleteReadError, ResponseStreamingError)


def error_code(error: ClientError) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` when the response has none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_transient(error: ClientError) -> bool:
    """Whether a retry of the same call may succeed: a transient code or any 5xx status."""
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return error_code(error) in TRANSIENT_ERROR_CODES or status >= 500


def is_transient_failure(error: BaseException | None) -> bool:
    """:func:`is_transient` for any exception: a transient ``ClientError`` or a failed
    connection (what a wrapper such as Powertools' leaves as the ``__cause__``)."""
    if isinstance(error, ClientError):
        return is_transient(error)
    return isinstance(error, _CONNECTION_FAILURES)


@contextmanager
def transient_errors_translated(action: str) -> Iterator[None]:
    """Re-raise throttling, 5xx and connection failures as :class:`TransientDependencyError`.

    Other errors (access denied, missing table, failed conditions) pass through unchanged: the
    caller either handles them or they are permanent.

    Example::

        with transient_errors_translated("claim event 42 in table dedupe"):
            client.put_item(...)
    """
    try:
        yield
    except ClientError as error:
        if is_transient(error):
            raise TransientDependencyError(f"{action}: {error_code(error) or error}") from error
        raise
    except _CONNECTION_FAILURES as error:
        raise TransientDependencyError(f"{action}: {error}") from error


@contextmanager
def s3_errors_translated(
    action: str, *, also_transient: frozenset[str] = frozenset()
) -> Iterator[None]:
    """:func:`transient_errors_translated` for S3: its own throttling codes, and bodies that
    break off while read, are transient too; so are the codes in ``also_transient``.

    Example::

        with s3_errors_translated(f"read of s3://{bucket}/{key}"):
            yield from client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks()
    """
    try:
        yield
    except ClientError as error:
        code = error_code(error)
        if code in S3_TRANSIENT_CODES or code in also_transient or is_transient(error):
            raise TransientDependencyError(f"{action}: {code or error}") from error
        raise
    except (*_CONNECTION_FAILURES, *_BROKEN_STREAMS) as error:
        raise TransientDependencyError(f"{action}: {error}") from error
