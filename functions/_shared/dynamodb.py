"""What every DynamoDB adapter needs besides error translation (``aws_errors``): the code of a
failed condition and plain-JSON item conversion.

boto3 is untyped here, so clients are ``Any``; the adapters put a typed port in front of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

CONDITIONAL_CHECK_FAILED: Final = "ConditionalCheckFailedException"


def to_attribute_value(value: Any) -> dict[str, Any]:
    """A plain JSON value as a DynamoDB attribute value (floats go through ``Decimal``)."""
    from boto3.dynamodb.types import TypeSerializer  # boto3: not at cold start

    return dict(TypeSerializer().serialize(_decimals_for_floats(value)))


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item as plain JSON values: numbers become ``int`` when whole, else ``float``."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: _plain(deserializer.deserialize(value)) for key, value in item.items()}


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
