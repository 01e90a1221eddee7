"""enrich_batch's I/O: catalogs and batch files in S3, the products table, the provider's key
and the provider itself.

boto3 clients are created on first use (importing the handler opens nothing) and may be
injected; the HTTP pool is module-level so warm invocations reuse its connections.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlsplit

import urllib3
from botocore.exceptions import ClientError

from functions._shared import names
from functions._shared.aws_errors import (
    error_code,
    s3_errors_translated,
    transient_errors_translated,
)
from functions._shared.clients import STANDARD_RETRIES, LazyClient
from functions._shared.dynamodb import to_attribute_value
from functions._shared.errors import CatalogSourceError, ConfigurationError
from functions._shared.http_client import describe_error, lambda_pool, read_capped
from functions._shared.json_secret import secret_field
from functions._shared.models import json_type_name
from functions._shared.parsing import JsonTextError, loads_json
from functions.enrich_batch.core import MAX_BATCH_SIZE, S3Pointer
from functions.enrich_batch.planning import MAX_LINE_BYTES
from functions.enrich_batch.products import IdType
from functions.enrich_batch.provider import (
    MAX_ANSWER_BYTES,
    ProviderConnectionError,
    ProviderResponse,
)

READ_SIZE: Final = 64 * 1024
PRODUCTS_PATH: Final = "/products"
# A batch file holds at most MAX_BATCH_SIZE lines of a catalog; anything larger was not
# written by the plan.
MAX_BATCH_FILE_BYTES: Final = MAX_BATCH_SIZE * (MAX_LINE_BYTES + 1) + 1024

_MISSING_OBJECT_CODES: Final = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES: Final = frozenset({"AccessDenied", "403", "AllAccessDisabled"})
_S3_CONFIG: Final = {"connect_timeout": 3, "read_timeout": 20, "retries": STANDARD_RETRIES}


# -- S3: catalogs and batch files -------------------------------------------------------------


class S3CatalogStore:
    """Reads NDJSON catalogs and batch files; writes batch files to the staging bucket.

    A catalog is read in 64 KiB chunks, never whole. Missing or unreadable objects are
    :class:`CatalogSourceError` (permanent: the enrichment is recorded FAILED); throttling, 5xx
    and broken streams are :class:`TransientDependencyError`.

    Example::

        store = S3CatalogStore("stepflow-dev-staging")
        plan = plan_catalog(store.catalog_chunks(pointer), source=pointer.uri,
                            tracking_id="enr-1", batch_size=20, writer=store)
        products = store.read_batch(plan.batches[0].pointer)
    """

    client = LazyClient("s3", _S3_CONFIG)

    def __init__(self, staging_bucket: str, client: Any | None = None) -> None:
        self._bucket = staging_bucket
        self._client = client

    @property
    def bucket(self) -> str:
        return self._bucket

    def catalog_chunks(self, pointer: S3Pointer) -> Iterator[bytes]:
        """The object's bytes in chunks; opening it (and its errors) happens on this call."""
        body = self._open(pointer)
        return _chunks(body, f"read of {pointer.uri}")

    def write_batch(self, key: str, products: list[Any]) -> None:
        body = json.dumps(products, separators=(",", ":"), ensure_ascii=False).encode()
        with s3_errors_translated(f"write of s3://{self._bucket}/{key}"):
            self.client.put_object(
                Bucket=self._bucket, Key=key, Body=body, ContentType="application/json"
            )

    def read_batch(self, pointer: S3Pointer) -> list[Any]:
        """A batch file's products; :class:`CatalogSourceError` when it is not a JSON array."""
        body = self._open(pointer)
        action = f"read of {pointer.uri}"
        data = bytearray()
        try:
            for chunk in _chunks(body, action):
                data += chunk
                if len(data) > MAX_BATCH_FILE_BYTES:
                    raise CatalogSourceError(
                        f"{pointer.uri} is larger than {MAX_BATCH_FILE_BYTES} bytes; "
                        "it is not a batch the plan wrote"
                    )
        finally:
            body.close()
        try:
            document = loads_json(data.decode("utf-8"))
        except (UnicodeDecodeError, JsonTextError) as error:
            reason = error.reason if isinstance(error, JsonTextError) else "is not UTF-8 text"
            raise CatalogSourceError(f"batch file {pointer.uri} {reason}") from None
        if not isinstance(document, list):
            raise CatalogSourceError(
                f"batch file {pointer.uri} holds a JSON {json_type_name(document)}, "
                "not an array of products"
            )
        return document

    def _open(self, pointer: S3Pointer) -> Any:
        uri = pointer.uri
        with s3_errors_translated(f"read of {uri}"):
            try:
                response = self.client.get_object(Bucket=pointer.bucket, Key=pointer.key)
            except ClientError as error:
                code = error_code(error)
                if code in _MISSING_OBJECT_CODES:
                    raise CatalogSourceError(f"no such object {uri}") from None
                if code == "NoSuchBucket":
                    raise CatalogSourceError(
                        f"no such object {uri}: no bucket {pointer.bucket}"
                    ) from None
                if code in _DENIED_CODES:
                    # Without s3:ListBucket, S3 answers a missing key with AccessDenied too.
                    raise CatalogSourceError(
                        f"no such object {uri}, or no permission to read it"
                    ) from None
                raise
        return response["Body"]


def _chunks(body: Any, action: str) -> Iterator[bytes]:
    with s3_errors_translated(action):
        try:
            yield from body.iter_chunks(READ_SIZE)
        finally:
            body.close()


# -- DynamoDB: products -----------------------------------------------------------------------


class DynamoDbProductStore:
    """:class:`~functions.enrich_batch.core.ProductStore` on the ``products`` table.

    One unconditional ``PutItem`` per product: the key is ``(catalogId, productId)``, so a
    retried batch overwrites its own items and a product enriched twice is still one item.

    Example::

        DynamoDbProductStore("stepflow-dev-products").put(item)
    """

    client = LazyClient("dynamodb")

    def __init__(self, table_name: str, client: Any | None = None) -> None:
        self.table_name = table_name
        self._client = client

    def put(self, item: Mapping[str, Any]) -> None:
        product = f"{item[names.PRODUCTS_KEY]}/{item[names.PRODUCTS_SORT_KEY]}"
        with transient_errors_translated(f"write of product {product} in {self.table_name}"):
            self.client.put_item(
                TableName=self.table_name,
                Item={name: to_attribute_value(value) for name, value in item.items()},
            )


# -- Secrets Manager: the API key -------------------------------------------------------------


class SecretApiKeySource:
    """:class:`~functions.enrich_batch.provider.ApiKeySource` from a Secrets Manager secret
    holding ``{"apiKey": "..."}``, through Powertools Parameters (cached for
    ``max_age_seconds``). Messages never include the secret's value.

    Example::

        SecretApiKeySource("stepflow-dev-provider").api_key()
    """

    def __init__(self, secret_name: str, max_age_seconds: int = 300) -> None:
        self.secret_name = secret_name
        self.max_age_seconds = max_age_seconds

    def api_key(self, *, refresh: bool = False) -> str:
        key = secret_field(
            self.secret_name, "apiKey", max_age_seconds=self.max_age_seconds, refresh=refresh
        )
        if not isinstance(key, str) or not key.strip() or any(c.isspace() for c in key):
            raise ConfigurationError(
                f'secret {self.secret_name} must be {{"apiKey": "<text without spaces>"}}'
            )
        return key


# -- the provider -----------------------------------------------------------------------------

# No retries here: ProviderClient retries with the policy's waits.
_POOL: Final = lambda_pool()
_USER_AGENT: Final = "stepflow-enrich/1"


def products_url(base_url: str) -> str:
    """``PROVIDER_URL`` is the provider's base URL; the lookup path is appended unless there.

    >>> products_url("http://127.0.0.1:8080"), products_url("https://p.example.com/v1/products")
    ('http://127.0.0.1:8080/products', 'https://p.example.com/v1/products')
    """
    if urlsplit(base_url).path.rstrip("/").endswith(PRODUCTS_PATH):
        return base_url.rstrip("/")
    return base_url.rstrip("/") + PRODUCTS_PATH


class HttpProviderTransport:
    """:class:`~functions.enrich_batch.provider.ProviderTransport` over HTTP(S) with urllib3.

    ``connect_timeout`` bounds the TCP/TLS connect; the read timeout comes with each request
    (the client shortens it near the invocation's deadline). The body is read up to
    :data:`~functions.enrich_batch.provider.MAX_ANSWER_BYTES` (+1, to know it was longer).

    Example::

        transport = HttpProviderTransport("https://provider.example.com", connect_timeout=3)
        transport.get(IdType.ASIN, ["B000123456"], api_key, read_timeout=10).status  # 200
    """

    def __init__(
        self,
        base_url: str,
        *,
        connect_timeout: float = 3.0,
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self.url = products_url(base_url)
        self.connect_timeout = connect_timeout
        self._pool = pool or _POOL

    def get(
        self, id_type: IdType, ids: Sequence[str], api_key: str, *, read_timeout: float
    ) -> ProviderResponse:
        try:
            response = self._pool.request(
                "GET",
                self.url,
                fields={"key": api_key, id_type.value: ",".join(ids)},
                headers={"Accept": "application/json", "User-Agent": _USER_AGENT},
                timeout=urllib3.Timeout(connect=self.connect_timeout, read=read_timeout),
                retries=False,
                redirect=False,
                preload_content=False,
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ProviderConnectionError(describe_error(error)) from error
        try:
            body = read_capped(response, MAX_ANSWER_BYTES)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ProviderConnectionError(
                f"the answer broke off: {describe_error(error)}"
            ) from error
        return ProviderResponse(
            status=response.status,
            headers={name.lower(): value for name, value in response.headers.items()},
            body=body[:MAX_ANSWER_BYTES],
            truncated=len(body) > MAX_ANSWER_BYTES,
        )
