"""enrich_batch's Lambda against moto (products table, staging bucket, provider secret) and a
real provider on loopback.

Every lookup is a real HTTP request to a :class:`~local.peers.provider.ProviderServer`, whose
request log is the proof of what reached the provider. The handler's waits go to a recording
sleeper that moves the provider's clock (and the handler's deadline clock) instead of sleeping,
so a ``Retry-After`` is honoured exactly and costs no time.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities import parameters

from functions._shared import names
from functions._shared.dynamodb import from_item
from functions._shared.errors import (
    CatalogSourceError,
    ConfigurationError,
    InvalidEnvelopeError,
    ProviderThrottledError,
    ProviderUnavailableError,
)
from local.peers.provider import GarbageKind, Outcome, ProviderServer
from tests.events import load_event, load_example
from tests.functional.conftest import (
    PRODUCTS_TABLE,
    REGION,
    FakeLambdaContext,
    HandlerLoader,
    emitted_metrics,
)

STAGING_BUCKET = "stepflow-test-staging"
SECRET_NAME = "stepflow-test-provider"
API_KEY = "provider-test-key"
CATALOG_KEY = "uploads/cat-1.ndjson"


class Clock:
    """Seconds that move only when the sleeper says so; shared by the provider and handler."""

    def __init__(self, now: float = 10_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Sleeper:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.now += seconds


class ShortContext(FakeLambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return 18_000


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(clock: Clock) -> Iterator[ProviderServer]:
    with ProviderServer(API_KEY, clock=clock) as server:
        yield server


@pytest.fixture
def enrich_aws(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch, provider: ProviderServer
) -> Iterator[Any]:
    """The staging bucket and the provider secret in moto, beside the conftest's tables."""
    settings = {
        names.STAGING_BUCKET_ENV: STAGING_BUCKET,
        names.PROVIDER_URL_ENV: provider.url,
        names.PROVIDER_SECRET_ENV: SECRET_NAME,
        names.LOCAL_TIME_SCALE_ENV: "1",
    }
    for variable, value in settings.items():
        monkeypatch.setenv(variable, value)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=STAGING_BUCKET)
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=SECRET_NAME, SecretString=json.dumps({"apiKey": API_KEY})
    )
    # Powertools caches secrets per process; each test starts from the secret it wrote.
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    yield dynamodb
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@dataclass
class Harness:
    handler: ModuleType
    context: FakeLambdaContext
    provider: ProviderServer
    dynamodb: Any
    sleeper: Sleeper
    capsys: pytest.CaptureFixture[str]

    def run(self, event: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.handler.lambda_handler(copy.deepcopy(event), self.context)
        return result

    def products(self) -> dict[str, dict[str, Any]]:
        """The stored products by productId (a scan: the test table is tiny)."""
        items = self.dynamodb.scan(TableName=PRODUCTS_TABLE, ConsistentRead=True)["Items"]
        return {item["productId"]["S"]: from_item(item) for item in items}

    def metrics(self) -> dict[str, float]:
        return emitted_metrics(self.capsys.readouterr().out)

    def lookups(self) -> list[Any]:
        return self.provider.requests()

    def put_catalog(self, body: bytes, key: str = CATALOG_KEY) -> None:
        boto3.client("s3", region_name=REGION).put_object(Bucket=STAGING_BUCKET, Key=key, Body=body)

    def reload(self, load_handler: HandlerLoader, monkeypatch: pytest.MonkeyPatch) -> Harness:
        """A cold start with the environment as it is now, sharing this harness's clock."""
        module = load_handler("enrich_batch")
        sleeper = Sleeper(self.sleeper.clock)
        monkeypatch.setattr(module, "sleep", sleeper)
        monkeypatch.setattr(module, "clock", sleeper.clock)
        return Harness(module, self.context, self.provider, self.dynamodb, sleeper, self.capsys)

    def staged(self, key: str) -> Any:
        body = boto3.client("s3", region_name=REGION).get_object(Bucket=STAGING_BUCKET, Key=key)
        return json.loads(body["Body"].read())


@pytest.fixture
def h(
    *,
    load_handler: HandlerLoader,
    enrich_aws: Any,
    provider: ProviderServer,
    clock: Clock,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Harness:
    module = load_handler("enrich_batch")
    sleeper = Sleeper(clock)
    monkeypatch.setattr(module, "sleep", sleeper)
    monkeypatch.setattr(module, "clock", clock)
    return Harness(module, lambda_context, provider, enrich_aws, sleeper, capsys)


INLINE = load_event("enrich_batch_inline.json")
POINTED = load_event("enrich_batch_pointer.json")
PLAN = load_event("enrich_plan.json")


def ndjson(products: list[Any]) -> bytes:
    return b"".join(json.dumps(product).encode() + b"\n" for product in products)


# -- a batch ----------------------------------------------------------------------------------


def test_a_batch_is_enriched_with_one_lookup_per_id_type_and_every_product_stored(
    h: Harness,
) -> None:
    result = h.run(INLINE)

    assert result == {
        "batchId": "enr-test-1#batch-00000",
        "enriched": 2,
        "failed": 2,
        "failures": [
            {"productId": "asin:B00000000Z", "reason": "unknown to the provider"},
            {"productId": "ean:4006381333932", "reason": "unknown to the provider"},
        ],
    }
    assert [(r.id_type, r.ids) for r in h.lookups()] == [
        ("asin", ("B000123456", "B00000000Z")),
        ("ean", ("4006381333931", "4006381333932")),
    ]
    stored = h.products()
    assert sorted(stored) == sorted(
        ["asin:B000123456", "asin:B00000000Z", "ean:4006381333931", "ean:4006381333932"]
    )
    kettle = stored["asin:B000123456"]
    expected = h.provider.product("B000123456")
    assert expected is not None
    assert {name: kettle[name] for name in expected if name != "asin"} == {
        name: value for name, value in expected.items() if name != "asin"
    }
    assert kettle["enriched"] is True
    assert kettle["catalogId"] == "cat-1"
    assert kettle["trackingId"] == "enr-test-1"
    assert kettle["batchId"] == "enr-test-1#batch-00000"
    assert kettle["product"] == {"asin": "B000123456", "sku": "SKU-1", "name": "Kettle"}
    assert kettle["updatedAt"].endswith("Z")
    unknown = stored["ean:4006381333932"]
    assert (unknown["enriched"], unknown["reason"]) == (False, "unknown to the provider")
    assert "title" not in unknown
    metrics = h.metrics()
    assert (metrics["ProductsEnriched"], metrics["ProductsNotEnriched"]) == (2, 2)
    assert metrics["ProviderRequests"] == 2
    assert h.sleeper.sleeps == []


def test_a_rerun_of_the_same_batch_overwrites_the_same_items_and_counts_the_same(
    h: Harness,
) -> None:
    first = h.run(INLINE)
    stored_first = h.products()
    second = h.run(INLINE)
    stored_second = h.products()

    assert second == first
    assert sorted(stored_second) == sorted(stored_first)
    for product_id, item in stored_second.items():
        assert {k: v for k, v in item.items() if k != "updatedAt"} == {
            k: v for k, v in stored_first[product_id].items() if k != "updatedAt"
        }


def test_a_batch_planned_to_s3_is_read_from_its_pointer(h: Harness) -> None:
    products = [{"asin": f"B{index:09d}"} for index in range(40)]
    h.put_catalog(ndjson(products))
    plan = h.run(PLAN)

    result = h.run(POINTED)

    assert plan["batches"][1] == {
        "batchId": POINTED["item"]["batchId"],
        "pointer": POINTED["item"]["pointer"],
        "count": 20,
    }
    assert result["batchId"] == "enr-test-1#batch-00001"
    assert (result["enriched"], result["failed"]) == (20, 0)
    assert sorted(h.products()) == [f"asin:B{index:09d}" for index in range(20, 40)]
    assert [len(r.ids) for r in h.lookups()] == [20]


def test_a_pointer_whose_batch_id_disagrees_with_the_map_index_is_invalid(h: Harness) -> None:
    event = copy.deepcopy(POINTED)
    event["batchIndex"] = 2

    with pytest.raises(InvalidEnvelopeError, match=r"item\.batchId"):
        h.run(event)

    assert h.lookups() == []


def test_a_pointer_to_a_missing_batch_file_is_a_catalog_source_error(h: Harness) -> None:
    with pytest.raises(CatalogSourceError, match="no such object s3://stepflow-test-staging/"):
        h.run(POINTED)


def test_a_malformed_batch_is_invalid(h: Harness) -> None:
    with pytest.raises(InvalidEnvelopeError, match="batchIndex"):
        h.run({**INLINE, "batchIndex": "first"})

    assert h.metrics()["EnvelopesRejected"] == 1


# -- the provider misbehaving -----------------------------------------------------------------


def test_throttling_waits_retry_after_then_succeeds(h: Harness) -> None:
    # One lookup a second and no burst beyond it: the ean lookup right after the asin lookup
    # is throttled and told to come back in 1 s.
    h.provider.set_rate_limit(1, burst=1)

    result = h.run(INLINE)

    assert (result["enriched"], result["failed"]) == (2, 2)
    assert [r.outcome for r in h.lookups()] == [Outcome.OK, Outcome.THROTTLED, Outcome.OK]
    assert h.lookups()[1].retry_after == 1
    assert h.sleeper.sleeps == [1.0]
    metrics = h.metrics()
    assert (metrics["ProviderThrottled"], metrics["ProviderRetries"]) == (1, 1)


def test_persistent_503_backs_off_then_raises_provider_unavailable(h: Harness) -> None:
    h.provider.set_status_override(503)

    with pytest.raises(ProviderUnavailableError, match=r"4 attempts\): HTTP 503"):
        h.run(INLINE)

    assert [r.status for r in h.lookups()] == [503] * 4
    assert h.sleeper.sleeps == [0.5, 1.0, 2.0]
    assert h.products() == {}
    metrics = h.metrics()
    assert metrics["ProviderGaveUp"] == 1
    assert metrics["ProviderFailures"] == 4


def test_persistent_429_raises_provider_throttled(h: Harness) -> None:
    h.provider.set_status_override(429)

    with pytest.raises(ProviderThrottledError, match="kept answering 429"):
        h.run(INLINE)

    assert h.sleeper.sleeps == [1.0, 1.0, 1.0]
    assert h.products() == {}


def test_the_retry_scale_from_the_environment_shortens_every_wait(
    h: Harness, load_handler: HandlerLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(names.LOCAL_TIME_SCALE_ENV, "0.01")
    scaled = h.reload(load_handler, monkeypatch)
    h.provider.set_status_override(503)

    with pytest.raises(ProviderUnavailableError):
        scaled.run(INLINE)

    assert scaled.sleeper.sleeps == [0.005, 0.01, 0.02]


def test_retries_stop_before_the_invocation_runs_out_of_time(h: Harness) -> None:
    # 18 s left, 15 s kept for the writes: 3 s for lookups. After the first 0.5 s wait, a 1 s
    # wait plus the next attempt no longer fit.
    h.context = ShortContext()
    h.provider.set_status_override(503)

    with pytest.raises(ProviderUnavailableError, match="time is running out"):
        h.run(INLINE)

    assert h.sleeper.sleeps == [0.5]
    assert len(h.lookups()) == 2


def test_a_provider_that_never_answers_is_unavailable(h: Harness) -> None:
    h.provider.stop()

    with pytest.raises(ProviderUnavailableError, match="did not answer"):
        h.run(INLINE)

    assert len(h.sleeper.sleeps) == 3


@pytest.mark.parametrize("kind", list(GarbageKind))
def test_garbage_is_stored_as_not_enriched_with_the_reason_never_invented(
    h: Harness, kind: GarbageKind
) -> None:
    h.provider.set_garbage_rate(1.0, kind)

    result = h.run(INLINE)

    reasons = {failure["productId"]: failure["reason"] for failure in result["failures"]}
    known = {"asin:B000123456", "ean:4006381333931"}
    assert result["enriched"] == 0
    for product_id in known:
        assert reasons[product_id].startswith("provider answered garbage: ")
    stored = h.products()
    assert len(stored) == 4
    for item in stored.values():
        assert item["enriched"] is False
        assert not {"title", "brand", "category", "price", "salesRank"} & set(item)
    assert h.metrics()["ProviderGarbage"] >= 2


def test_a_wrong_api_key_is_a_configuration_error_after_a_single_lookup(h: Harness) -> None:
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=SECRET_NAME, SecretString=json.dumps({"apiKey": "wrong"})
    )

    with pytest.raises(ConfigurationError, match="refused the API key"):
        h.run(INLINE)

    assert [r.outcome for r in h.lookups()] == [Outcome.UNAUTHORIZED]
    assert h.metrics()["EnrichErrors"] == 1


def test_a_rotated_api_key_is_picked_up_after_one_401(h: Harness) -> None:
    h.run(INLINE)  # caches the current key
    h.provider.api_key = "rotated-key"
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=SECRET_NAME, SecretString=json.dumps({"apiKey": "rotated-key"})
    )
    h.provider.reset()

    result = h.run(INLINE)

    assert result["enriched"] == 2
    assert [r.outcome for r in h.lookups()] == [Outcome.UNAUTHORIZED, Outcome.OK, Outcome.OK]


def test_a_secret_without_an_api_key_is_a_configuration_error(h: Harness) -> None:
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=SECRET_NAME, SecretString=json.dumps({"token": "x"})
    )

    with pytest.raises(ConfigurationError, match=r'must be \{"apiKey"'):
        h.run(INLINE)

    assert h.lookups() == []


def test_a_missing_environment_variable_fails_the_cold_start(
    load_handler: HandlerLoader, enrich_aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(names.PROVIDER_URL_ENV)

    with pytest.raises(ConfigurationError, match="PROVIDER_URL is not set"):
        load_handler("enrich_batch")


# -- planning ---------------------------------------------------------------------------------


def test_a_catalog_in_s3_is_planned_into_batch_files(h: Harness) -> None:
    products = load_example("catalog.json")["products"]
    h.put_catalog(ndjson(products))

    plan = h.run(PLAN)

    assert (plan["totalProducts"], plan["totalBatches"]) == (45, 3)
    assert [batch["count"] for batch in plan["batches"]] == [20, 20, 5]
    assert [batch["pointer"]["key"] for batch in plan["batches"]] == [
        f"enrichment/enr-test-1/batch-{index:05d}.json" for index in range(3)
    ]
    assert all(batch["pointer"]["bucket"] == STAGING_BUCKET for batch in plan["batches"])
    staged = [h.staged(batch["pointer"]["key"]) for batch in plan["batches"]]
    assert [product for batch in staged for product in batch] == products
    assert h.lookups() == []
    metrics = h.metrics()
    assert (metrics["CatalogsPlanned"], metrics["BatchesPlanned"]) == (1, 3)


def test_the_example_catalog_enriches_all_but_its_documented_unknowns(h: Harness) -> None:
    products = load_example("catalog.json")["products"]
    h.put_catalog(ndjson(products))
    plan = h.run(PLAN)

    results = [
        h.run(
            {
                "trackingId": PLAN["trackingId"],
                "catalogId": PLAN["catalogId"],
                "batchIndex": index,
                "item": batch,
            }
        )
        for index, batch in enumerate(plan["batches"])
    ]

    failed = sorted(f["productId"] for result in results for f in result["failures"])
    assert sum(result["enriched"] for result in results) == 40
    assert failed == [
        "asin:B00000010Z",
        "asin:B00000020Z",
        "asin:B00000030Z",
        "ean:4006380000057",
        "ean:4006380000125",
    ]
    assert len(h.products()) == 45


def test_a_missing_catalog_is_a_catalog_source_error(h: Harness) -> None:
    with pytest.raises(
        CatalogSourceError, match="no such object s3://stepflow-test-staging/uploads/cat-1"
    ):
        h.run(PLAN)

    assert h.metrics()["CatalogsRejected"] == 1


def test_a_malformed_line_is_a_catalog_source_error_naming_it(h: Harness) -> None:
    h.put_catalog(b'{"asin": "B000000001"}\n{"asin": "B0000\n{"ean": "4006381333931"}\n')

    with pytest.raises(CatalogSourceError, match="line 2 is not valid JSON"):
        h.run(PLAN)


def test_duplicates_and_products_without_identifier_are_catalog_source_errors(
    h: Harness,
) -> None:
    h.put_catalog(ndjson([{"asin": "B000000001"}, {"sku": "x"}, {"asin": "B000000001"}]))

    with pytest.raises(CatalogSourceError) as caught:
        h.run(PLAN)

    message = str(caught.value)
    assert "line 2: has no identifier" in message
    assert "line 3: asin:B000000001 repeats line 1" in message


def test_an_unknown_action_is_an_invalid_envelope(h: Harness) -> None:
    with pytest.raises(InvalidEnvelopeError, match="unknown action 'replan'"):
        h.run({**PLAN, "action": "replan"})


def test_a_plan_without_a_pointer_is_an_invalid_envelope(h: Harness) -> None:
    with pytest.raises(InvalidEnvelopeError, match="productsPointer"):
        h.run({key: value for key, value in PLAN.items() if key != "productsPointer"})
