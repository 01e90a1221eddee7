"""deliver's adapters: HTTP against a real loopback endpoint, S3 and the secret in moto."""

from __future__ import annotations

import gzip
import io
import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError
from moto import mock_aws

from functions._shared.errors import ConfigurationError, TransientDependencyError
from functions.deliver import adapters
from functions.deliver.adapters import HttpDownstream, S3BundleSource, SecretTokenSource
from functions.deliver.core import DownstreamUnavailableError
from local.peers.downstream import DownstreamServer, Outcome

TOKEN = "t0ken"
KEY = "cd" * 32
EVENTS = [{"eventHeader": {"uuid": f"e-{n}"}, "n": n} for n in range(3)]
BUNDLE = gzip.compress(b"".join(json.dumps(event).encode() + b"\n" for event in EVENTS))


@pytest.fixture
def server() -> Iterator[DownstreamServer]:
    with DownstreamServer(TOKEN) as running:
        yield running


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(variable, value)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    with mock_aws():
        yield
    parameters.clear_caches()  # type: ignore[no-untyped-call]


# -- HTTP --------------------------------------------------------------------------------------


def test_a_post_carries_the_contract_headers_and_the_whole_body(server: DownstreamServer) -> None:
    response = HttpDownstream(server.ingest_url).post(
        io.BytesIO(BUNDLE), length=len(BUNDLE), idempotency_key=KEY, token=TOKEN
    )

    assert response.status == 200
    assert json.loads(response.excerpt) == {"duplicate": False, "idempotencyKey": KEY, "events": 3}
    received = server.received()
    [request] = received.ingest_requests
    assert request.headers["Content-Type"] == "application/x-ndjson"
    assert request.headers["Content-Encoding"] == "gzip"
    assert request.headers["Content-Length"] == str(len(BUNDLE))
    assert "Transfer-Encoding" not in request.headers
    assert request.idempotency_key == KEY
    assert received.events == {"e-0": 1, "e-1": 1, "e-2": 1}


def test_a_body_of_unknown_length_is_sent_chunked(server: DownstreamServer) -> None:
    response = HttpDownstream(server.ingest_url).post(
        io.BytesIO(BUNDLE), length=None, idempotency_key=KEY, token=TOKEN
    )

    assert response.status == 200
    [request] = server.received().ingest_requests
    assert request.headers["Transfer-Encoding"] == "chunked"
    assert request.body_bytes == len(BUNDLE)


@pytest.mark.parametrize("status", [400, 401, 429, 503])
def test_error_statuses_are_returned_not_raised(server: DownstreamServer, status: int) -> None:
    server.set_status_override(status)

    response = HttpDownstream(server.ingest_url).post(
        io.BytesIO(BUNDLE), length=len(BUNDLE), idempotency_key=KEY, token=TOKEN
    )

    assert response.status == status


def test_a_reset_connection_is_unavailable(server: DownstreamServer) -> None:
    server.set_down()

    with pytest.raises(DownstreamUnavailableError, match="ProtocolError"):
        HttpDownstream(server.ingest_url).post(
            io.BytesIO(BUNDLE), length=len(BUNDLE), idempotency_key=KEY, token=TOKEN
        )


def test_a_port_nobody_listens_on_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Closed again: nothing listens there now.

    with pytest.raises(DownstreamUnavailableError, match="NewConnectionError"):
        HttpDownstream(f"http://127.0.0.1:{port}/ingest", connect_timeout=1).post(
            io.BytesIO(BUNDLE), length=len(BUNDLE), idempotency_key=KEY, token=TOKEN
        )


def test_an_endpoint_that_does_not_answer_in_time_is_unavailable(server: DownstreamServer) -> None:
    # Held, the endpoint reads the request and never answers: the read timeout is what ends it.
    server.hold()
    downstream = HttpDownstream(server.ingest_url, read_timeout=0.2)

    with pytest.raises(DownstreamUnavailableError, match="timed out"):
        downstream.post(io.BytesIO(BUNDLE), length=len(BUNDLE), idempotency_key=KEY, token=TOKEN)
    server.release()


def test_the_connection_pool_is_shared_by_default() -> None:
    # Module-level, so warm invocations reuse connections (and their TLS sessions).
    assert HttpDownstream("https://example.com/ingest")._pool is adapters._POOL


# -- S3 ----------------------------------------------------------------------------------------


def test_a_bundle_is_opened_as_an_unread_stream_with_its_length(aws: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="archive")
    client.put_object(Bucket="archive", Key="bundles/cd/x.ndjson.gz", Body=BUNDLE)

    opened = S3BundleSource(client=client).open("archive", "bundles/cd/x.ndjson.gz")

    assert opened.length == len(BUNDLE)
    assert opened.stream.read(10) + opened.stream.read() == BUNDLE
    opened.close()


@pytest.mark.parametrize(
    ("code", "status"), [("SlowDown", 503), ("InternalError", 500), ("RequestTimeout", 400)]
)
def test_s3_throttling_and_server_errors_are_transient(code: str, status: int) -> None:
    class Failing:
        def get_object(self, **request: Any) -> Any:
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": "test"},
                    "ResponseMetadata": {"HTTPStatusCode": status},
                },
                "GetObject",
            )

    with pytest.raises(TransientDependencyError, match="s3://archive/k"):
        S3BundleSource(client=Failing()).open("archive", "k")


def test_a_missing_bundle_is_not_transient(aws: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket="archive")

    with pytest.raises(ClientError, match="NoSuchKey"):
        S3BundleSource(client=client).open("archive", "missing")


# -- secret ------------------------------------------------------------------------------------


def put_secret(value: str, name: str = "downstream") -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    try:
        client.put_secret_value(SecretId=name, SecretString=value)
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=name, SecretString=value)


def test_the_token_is_read_from_the_json_secret_and_cached(aws: None) -> None:
    put_secret(json.dumps({"token": "first"}))
    tokens = SecretTokenSource("downstream", max_age_seconds=300)

    first = tokens.token()
    put_secret(json.dumps({"token": "rotated"}))
    cached = tokens.token()
    refreshed = tokens.token(refresh=True)

    assert (first, cached, refreshed) == ("first", "first", "rotated")


@pytest.mark.parametrize(
    "value", ["not json", json.dumps({"user": "x"}), json.dumps({"token": ""}), '["token"]']
)
def test_a_secret_of_the_wrong_shape_is_a_configuration_error(aws: None, value: str) -> None:
    put_secret(value)

    with pytest.raises(ConfigurationError, match="secret downstream") as raised:
        SecretTokenSource("downstream").token()

    assert value not in str(raised.value)


def test_a_missing_secret_is_a_configuration_error(aws: None) -> None:
    with pytest.raises(ConfigurationError, match="ResourceNotFoundException"):
        SecretTokenSource("absent").token()


def test_a_throttled_secret_read_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    def throttled(*args: Any, **kwargs: Any) -> Any:
        try:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "slow down"}},
                "GetSecretValue",
            )
        except ClientError as error:
            # As Powertools does it: the SDK's error is only the context.
            raise GetParameterError(str(error))  # noqa: B904

    monkeypatch.setattr(parameters, "get_secret", throttled)

    with pytest.raises(TransientDependencyError, match="ThrottlingException"):
        SecretTokenSource("downstream").token()


def test_nothing_leaks_from_the_server_log_of_a_down_endpoint(server: DownstreamServer) -> None:
    server.set_down()

    with pytest.raises(DownstreamUnavailableError):
        HttpDownstream(server.ingest_url).post(
            io.BytesIO(BUNDLE), length=len(BUNDLE), idempotency_key=KEY, token=TOKEN
        )

    [request] = server.received().ingest_requests
    assert (request.status, request.outcome) == (None, Outcome.DOWN)
