"""What every DynamoDB adapter needs: error translation and plain-JSON item conversion.

boto3 is untyped here, so clients are ``Any``; the adapters put a typed port in front of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotocoreConnectionError

from functions._shared.errors import TransientDependencyError

CONDITIONAL_CHECK_FAILED: Final = "ConditionalCheckFailedException"

# Errors after which the same request may well succeed: capacity, throttling and the service's
# own faults. botocore has already retried these a few times before they reach us.
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

_SERIALIZER: Final = TypeSerializer()
_DESERIALIZER: Final = TypeDeserializer()


def error_code(error: ClientError) -> str:
    """The AWS error code of a botocore ``ClientError`` (``""`` when the response has none)."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_transient(error: ClientError) -> bool:
    """Whether a retry of the same call may succeed: a transient code or any 5xx status."""
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return error_code(error) in TRANSIENT_ERROR_CODES or status >= 500


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
    except (BotocoreConnectionError, HTTPClientError) as error:
        raise TransientDependencyError(f"{action}: {error}") from error


def to_attribute_value(value: Any) -> dict[str, Any]:
    """A plain JSON value as a DynamoDB attribute value (floats go through ``Decimal``)."""
    return dict(_SERIALIZER.serialize(_decimals_for_floats(value)))


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain JSON values: numbers become ``int`` when whole, else ``float``."""
    return {key: _plain(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


def _decimals_for_floats(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {key: _decimals_for_floats(inner) for key, inner in value.items()}
    if isinstance(value, list | tuple):
        return [_decimals_for_floats(inner) for inner in value]
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [_plain(inner) for inner in value]
    if isinstance(value, set):
        return sorted(_plain(inner) for inner in value)
    return value
