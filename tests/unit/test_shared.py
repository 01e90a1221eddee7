"""The shared helpers: settings at cold start, envelope parsing, DynamoDB errors and values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError
from pydantic import BaseModel, Field

from functions._shared.aws_errors import is_transient, transient_errors_translated
from functions._shared.dynamodb import from_item, to_attribute_value
from functions._shared.errors import (
    ConfigurationError,
    InvalidEnvelopeError,
    TransientDependencyError,
)
from functions._shared.models import IngestEnvelope, ValidatedEnvelope, format_utc
from functions._shared.parsing import parse_envelope
from functions._shared.settings import load_settings
from tests.events import load_event


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "test"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "PutItem",
    )


class TableSettings(BaseModel):
    table_name: str = Field(alias="EXAMPLE_TABLE_NAME", min_length=1)
    ttl_seconds: int = Field(alias="EXAMPLE_TTL_SECONDS", default=60, gt=0)


def test_settings_are_read_from_the_environment_by_variable_name() -> None:
    settings = load_settings(
        TableSettings, {"EXAMPLE_TABLE_NAME": "t", "EXAMPLE_TTL_SECONDS": "120", "OTHER": "x"}
    )

    assert (settings.table_name, settings.ttl_seconds) == ("t", 120)


def test_a_missing_variable_is_named_at_cold_start() -> None:
    with pytest.raises(ConfigurationError, match="EXAMPLE_TABLE_NAME is not set"):
        load_settings(TableSettings, {})


def test_an_invalid_variable_is_named_with_its_problem() -> None:
    with pytest.raises(ConfigurationError, match=r"EXAMPLE_TTL_SECONDS: .*greater than 0"):
        load_settings(TableSettings, {"EXAMPLE_TABLE_NAME": "t", "EXAMPLE_TTL_SECONDS": "0"})


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"events": []}, "trackingId: is required"),
        ({"trackingId": "", "events": []}, "trackingId: must not be empty"),
        ({"trackingId": 7, "events": []}, "trackingId: must be a string, got number"),
        ({"trackingId": "t"}, "events: is required"),
        ({"trackingId": "t", "events": {"a": 1}}, "events: must be a JSON array, got object"),
        (None, "$: must be a JSON object, got null"),
        ([1, 2], "$: must be a JSON object, got array"),
        ("not json", "$: Invalid JSON"),
    ],
)
def test_a_malformed_envelope_raises_naming_the_field(event: Any, problem: str) -> None:
    with pytest.raises(InvalidEnvelopeError) as raised:
        parse_envelope(event, IngestEnvelope)

    assert problem in str(raised.value)


def test_the_sample_malformed_envelope_is_refused() -> None:
    with pytest.raises(InvalidEnvelopeError, match="trackingId: is required"):
        parse_envelope(load_event("malformed_envelope.json"), IngestEnvelope)


def test_an_envelope_round_trips_with_its_unknown_keys() -> None:
    payload = {**load_event("validated_envelope.json"), "bundle": {"key": "k"}}

    assert parse_envelope(payload, ValidatedEnvelope).to_payload() == payload


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (client_error("ProvisionedThroughputExceededException"), True),
        (client_error("ThrottlingException"), True),
        (client_error("RequestLimitExceeded"), True),
        (client_error("InternalServerError", 500), True),
        (client_error("SomethingNew", 503), True),
        (client_error("AccessDeniedException"), False),
        (client_error("ResourceNotFoundException"), False),
        (client_error("ConditionalCheckFailedException"), False),
    ],
)
def test_which_dynamodb_errors_are_transient(error: ClientError, transient: bool) -> None:
    assert is_transient(error) is transient


def test_transient_errors_are_translated_for_the_workflow() -> None:
    with (
        pytest.raises(TransientDependencyError, match="claim: ThrottlingException"),
        transient_errors_translated("claim"),
    ):
        raise client_error("ThrottlingException")


@pytest.mark.parametrize(
    "failure",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
    ],
)
def test_connection_failures_are_transient(failure: Exception) -> None:
    with pytest.raises(TransientDependencyError), transient_errors_translated("claim"):
        raise failure


def test_permanent_errors_pass_through_unchanged() -> None:
    with pytest.raises(ClientError, match="AccessDenied"), transient_errors_translated("claim"):
        raise client_error("AccessDeniedException")


def test_attribute_values_round_trip_as_plain_json() -> None:
    value = {"counts": {"received": 3}, "ratio": 0.5, "ids": ["a"], "none": None, "ok": True}

    item = {"record": to_attribute_value(value)}

    assert item["record"]["M"]["ratio"] == {"N": "0.5"}
    assert from_item(item) == {"record": value}


def test_format_utc_keeps_only_the_precision_there_is() -> None:
    assert format_utc(datetime(2024, 1, 1, 0, 0, 0, 1, tzinfo=UTC)) == "2024-01-01T00:00:00.000001Z"
