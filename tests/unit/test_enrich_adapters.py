"""enrich_batch's adapters with stub boto3 clients, and its HTTP transport on loopback."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError, ResponseStreamingError

from functions._shared.errors import CatalogSourceError, TransientDependencyError
from functions.enrich_batch.adapters import (
    MAX_BATCH_FILE_BYTES,
    READ_SIZE,
    DynamoDbProductStore,
    HttpProviderTransport,
    S3CatalogStore,
    products_url,
)
from functions.enrich_batch.core import S3Pointer
from functions.enrich_batch.products import IdType
from functions.enrich_batch.provider import MAX_ANSWER_BYTES, ProviderConnectionError
from local.peers.provider import ProviderServer

POINTER = S3Pointer(bucket="uploads", key="cat-1.ndjson")


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "GetObject",
    )


class Body:
    """A streaming body like botocore's, optionally breaking after some chunks."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        self.stream = io.BytesIO(data)
        self.fail_after = fail_after
        self.closed = False
        self.chunk_sizes: list[int] = []

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        while chunk := self.stream.read(size):
            if self.fail_after is not None and len(self.chunk_sizes) >= self.fail_after:
                raise ResponseStreamingError(error="connection reset")
            self.chunk_sizes.append(size)
            yield chunk

    def close(self) -> None:
        self.closed = True


class S3Stub:
    def __init__(self, body: Body | None = None, error: Exception | None = None) -> None:
        self.body = body
        self.error = error
        self.puts: list[dict[str, Any]] = []

    def get_object(self, **kwargs: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        return {"Body": self.body}

    def put_object(self, **kwargs: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        self.puts.append(kwargs)
        return {}


# -- S3 ---------------------------------------------------------------------------------------


def test_a_catalog_is_read_in_64_kib_chunks_and_closed() -> None:
    body = Body(b"x" * (READ_SIZE * 2 + 1))
    store = S3CatalogStore("staging", client=S3Stub(body))

    data = b"".join(store.catalog_chunks(POINTER))

    assert len(data) == READ_SIZE * 2 + 1
    assert body.chunk_sizes == [READ_SIZE] * 3
    assert body.closed


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (client_error("NoSuchKey", 404), "no such object s3://uploads/cat-1.ndjson"),
        (client_error("404", 404), "no such object s3://uploads/cat-1.ndjson"),
        (client_error("NoSuchBucket", 404), "no bucket uploads"),
        (client_error("AccessDenied", 403), "or no permission to read it"),
    ],
)
def test_a_missing_or_unreadable_catalog_is_a_catalog_source_error(
    error: ClientError, message: str
) -> None:
    store = S3CatalogStore("staging", client=S3Stub(error=error))

    with pytest.raises(CatalogSourceError, match=message):
        store.catalog_chunks(POINTER)


@pytest.mark.parametrize(
    "error", [client_error("SlowDown", 503), client_error("InternalError", 500)]
)
def test_s3_throttling_and_faults_are_transient(error: ClientError) -> None:
    store = S3CatalogStore("staging", client=S3Stub(error=error))

    with pytest.raises(TransientDependencyError):
        store.catalog_chunks(POINTER)
    with pytest.raises(TransientDependencyError):
        store.write_batch("k.json", [])


def test_a_stream_that_breaks_while_read_is_transient() -> None:
    store = S3CatalogStore("staging", client=S3Stub(Body(b"x" * READ_SIZE * 3, fail_after=1)))

    with pytest.raises(TransientDependencyError, match=r"read of s3://uploads/cat-1\.ndjson"):
        b"".join(store.catalog_chunks(POINTER))


def test_other_s3_errors_pass_through() -> None:
    store = S3CatalogStore("staging", client=S3Stub(error=client_error("InvalidObjectState")))

    with pytest.raises(ClientError):
        store.catalog_chunks(POINTER)


def test_a_batch_file_is_compact_utf8_json_in_the_staging_bucket() -> None:
    stub = S3Stub()

    S3CatalogStore("staging", client=stub).write_batch("k.json", [{"asin": "B000000001", "n": "é"}])

    [put] = stub.puts
    assert (put["Bucket"], put["Key"], put["ContentType"]) == (
        "staging",
        "k.json",
        "application/json",
    )
    assert put["Body"] == '[{"asin":"B000000001","n":"é"}]'.encode()


def test_a_batch_file_reads_back_as_its_products() -> None:
    products = [{"asin": "B000000001"}, {"ean": "4006381333931"}]
    store = S3CatalogStore("staging", client=S3Stub(Body(json.dumps(products).encode())))

    assert store.read_batch(POINTER) == products


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"asin": "B000000001"}', "holds a JSON object, not an array of products"),
        (b"[{", "is not valid JSON"),
        (b"\xff", "is not UTF-8 text"),
        (b"[" + b" " * MAX_BATCH_FILE_BYTES + b"]", "is larger than"),
    ],
)
def test_a_batch_file_that_is_not_a_json_array_is_a_catalog_source_error(
    data: bytes, message: str
) -> None:
    store = S3CatalogStore("staging", client=S3Stub(Body(data)))

    with pytest.raises(CatalogSourceError, match=message):
        store.read_batch(POINTER)


# -- DynamoDB ---------------------------------------------------------------------------------


class DynamoDbStub:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.items: list[dict[str, Any]] = []

    def put_item(self, **kwargs: Any) -> dict[str, Any]:
        if self.error is not None:
            raise self.error
        self.items.append(kwargs)
        return {}


def test_a_product_is_put_as_typed_attributes_with_decimal_prices() -> None:
    stub = DynamoDbStub()

    DynamoDbProductStore("products", client=stub).put(
        {
            "catalogId": "cat-1",
            "productId": "asin:B000000001",
            "enriched": True,
            "price": {"amount": 19.99, "currency": "EUR"},
            "salesRank": None,
        }
    )

    [put] = stub.items
    assert put["TableName"] == "products"
    assert put["Item"]["price"] == {"M": {"amount": {"N": "19.99"}, "currency": {"S": "EUR"}}}
    assert put["Item"]["salesRank"] == {"NULL": True}
    assert put["Item"]["enriched"] == {"BOOL": True}
    assert Decimal(put["Item"]["price"]["M"]["amount"]["N"]) == Decimal("19.99")


def test_a_throttled_write_is_transient() -> None:
    stub = DynamoDbStub(client_error("ProvisionedThroughputExceededException"))

    with pytest.raises(TransientDependencyError, match="cat-1/asin:B000000001"):
        DynamoDbProductStore("products", client=stub).put(
            {"catalogId": "cat-1", "productId": "asin:B000000001"}
        )


# -- HTTP -------------------------------------------------------------------------------------


def test_the_lookup_path_is_appended_to_the_base_url_once() -> None:
    assert products_url("http://127.0.0.1:9/") == "http://127.0.0.1:9/products"
    assert products_url("https://p.example.com/api") == "https://p.example.com/api/products"
    assert products_url("https://p.example.com/products/") == "https://p.example.com/products"


def test_a_refused_connection_is_a_provider_connection_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = HttpProviderTransport(f"http://127.0.0.1:{port}", connect_timeout=2)

    with pytest.raises(ProviderConnectionError):
        transport.get(IdType.ASIN, ["B000000001"], "key", read_timeout=2)


def test_a_lookup_sends_the_key_and_ids_and_reads_the_answer() -> None:
    with ProviderServer("secret-key") as provider:
        transport = HttpProviderTransport(provider.url)

        answered = transport.get(
            IdType.EAN, ["4006381333931", "4006381333932"], "secret-key", read_timeout=5
        )

    assert answered.status == 200
    assert answered.headers["content-type"] == "application/json"
    document = json.loads(answered.body)
    assert [product["ean"] for product in document["products"]] == ["4006381333931"]
    assert document["unknown"] == ["4006381333932"]
    [request] = provider.requests()
    assert request.ids == ("4006381333931", "4006381333932")


def test_an_answer_over_the_cap_is_read_only_up_to_it() -> None:
    huge = {"B000000001": {"title": "x" * MAX_ANSWER_BYTES}}
    with ProviderServer("k", catalog=huge) as provider:
        transport = HttpProviderTransport(provider.url)

        answered = transport.get(IdType.ASIN, ["B000000001"], "k", read_timeout=5)
        after = transport.get(IdType.ASIN, ["B000000002"], "k", read_timeout=5)

    assert answered.truncated
    assert len(answered.body) == MAX_ANSWER_BYTES
    assert (after.status, after.truncated) == (200, False)
