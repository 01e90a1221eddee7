"""bundle's Lambda against S3 in moto: multipart bundles, pass-through, aborts, rejections."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import random
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from functions._shared import names
from functions._shared.errors import (
    ConfigurationError,
    InvalidEnvelopeError,
    TransientDependencyError,
)
from tests.events import load_event
from tests.functional.conftest import (
    QUARANTINE_BUCKET,
    REGION,
    FakeLambdaContext,
    HandlerLoader,
    emitted_metrics,
)

STAGING = "stepflow-test-staging"
LANDING = "stepflow-test-landing"
MIB = 1024 * 1024


@pytest.fixture
def s3(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Staging and landing buckets in moto, named in the environment as the stack names them."""
    monkeypatch.setenv(names.STAGING_BUCKET_ENV, STAGING)
    monkeypatch.setenv(names.LANDING_BUCKET_ENV, LANDING)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        for bucket in (STAGING, LANDING, QUARANTINE_BUCKET):
            client.create_bucket(Bucket=bucket)
        yield client


@pytest.fixture
def bundle(s3: Any, load_handler: HandlerLoader) -> ModuleType:
    return load_handler("bundle")


def land(s3: Any, key: str, body: bytes, **extra: Any) -> dict[str, Any]:
    """Put an object in landing; the ``objects`` entry validate would make of its notification."""
    response = s3.put_object(Bucket=LANDING, Key=key, Body=body, **extra)
    return {
        "bucket": LANDING,
        "key": key,
        "etag": response["ETag"].strip('"'),
        "size": len(body),
    }


def objects_envelope(*objects: dict[str, Any]) -> dict[str, Any]:
    envelope: dict[str, Any] = copy.deepcopy(load_event("bundle_objects_envelope.json"))
    envelope["objects"] = list(objects)
    envelope["counts"] = {"received": len(objects), "fresh": len(objects), "duplicates": 0}
    return envelope


def staged(s3: Any, result: dict[str, Any]) -> bytes:
    bundle = result["bundle"]
    assert bundle["bucket"] == STAGING
    body: bytes = s3.get_object(Bucket=STAGING, Key=bundle["key"])["Body"].read()
    return body


def open_uploads(s3: Any) -> list[Any]:
    uploads: list[Any] = s3.list_multipart_uploads(Bucket=STAGING).get("Uploads", [])
    return uploads


def stored_gzip_of_random_lines(size: int, seed: int) -> bytes:
    """A gzip object of ``size`` bytes that does not shrink (stored blocks): big parts, quickly."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    total = 0
    while total < size:
        line = json.dumps({"id": len(lines), "blob": rng.randbytes(96).hex()}).encode() + b"\n"
        lines.append(line)
        total += len(line)
    compressor = zlib.compressobj(0, zlib.DEFLATED, 31)
    return compressor.compress(b"".join(lines)) + compressor.flush()


def test_events_are_staged_as_one_gzip_ndjson_bundle(
    bundle: ModuleType,
    s3: Any,
    lambda_context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    envelope = load_event("bundle_events_envelope.json")

    result = bundle.lambda_handler(copy.deepcopy(envelope), lambda_context)

    assert "events" not in result
    data = staged(s3, result)
    assert [json.loads(line) for line in gzip.decompress(data).splitlines()] == envelope["events"]
    assert result["bundle"]["count"] == 4
    assert result["bundle"]["size"] == len(data)
    assert result["bundle"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["bundle"]["key"].startswith(f"staging/{envelope['trackingId']}/")
    assert result["bundle"]["key"].endswith(".ndjson.gz")
    head = s3.head_object(Bucket=STAGING, Key=result["bundle"]["key"])
    assert (head["ContentType"], head["ContentEncoding"]) == ("application/x-ndjson", "gzip")
    for key in ("trackingId", "source", "rejected", "duplicates", "counts"):
        assert result[key] == envelope[key]
    assert emitted_metrics(capsys.readouterr().out)["BundledRecords"] == 4


def test_the_same_events_twice_give_the_same_hash_under_two_keys(
    bundle: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    envelope = load_event("bundle_events_envelope.json")

    first = bundle.lambda_handler(copy.deepcopy(envelope), lambda_context)
    retry = bundle.lambda_handler(copy.deepcopy(envelope), lambda_context)

    assert first["bundle"]["sha256"] == retry["bundle"]["sha256"]
    assert first["bundle"]["key"] != retry["bundle"]["key"]


def test_landed_objects_are_bundled_and_gzip_ones_pass_through(
    bundle: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    member = gzip.compress(b'{"loan":1}\n{"loan":2}', compresslevel=9, mtime=0)
    cars = land(s3, "landed/cars.ndjson", b'{"car":1}\n{"car":2}\n')
    loans = land(s3, "landed/loans.ndjson.gz", member, ContentEncoding="gzip")

    result = bundle.lambda_handler(objects_envelope(cars, loans), lambda_context)

    data = staged(s3, result)
    assert member in data
    assert gzip.decompress(data) == b'{"car":1}\n{"car":2}\n{"loan":1}\n{"loan":2}\n'
    assert result["bundle"]["count"] == 4
    assert "objects" not in result
    assert result["rejected"] == []


def test_a_bundle_bigger_than_a_part_is_uploaded_in_several_parts(
    bundle: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    big = land(s3, "landed/big.ndjson.gz", stored_gzip_of_random_lines(9 * MIB, seed=1))
    small = land(s3, "landed/small.ndjson", b'{"tail":true}\n')

    result = bundle.lambda_handler(objects_envelope(big, small), lambda_context)

    head = s3.head_object(Bucket=STAGING, Key=result["bundle"]["key"])
    assert head["ETag"].strip('"').endswith("-2")  # a multipart object of two parts
    data = staged(s3, result)
    lines = gzip.decompress(data).splitlines()
    assert json.loads(lines[-1]) == {"tail": True}
    assert result["bundle"]["count"] == len(lines)
    assert result["bundle"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert open_uploads(s3) == []


def test_a_vanished_or_overwritten_object_is_rejected_and_the_rest_bundled(
    bundle: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    kept = land(s3, "landed/kept.ndjson", b'{"kept":1}\n')
    gone = land(s3, "landed/gone.ndjson", b'{"gone":1}\n')
    changed = land(s3, "landed/changed.ndjson", b'{"v":1}\n')
    s3.delete_object(Bucket=LANDING, Key=gone["key"])
    land(s3, changed["key"], b'{"v":2}\n')

    result = bundle.lambda_handler(objects_envelope(kept, gone, changed), lambda_context)

    assert gzip.decompress(staged(s3, result)) == b'{"kept":1}\n'
    reasons = {r["eventId"]: r["errors"][0]["reason"] for r in result["rejected"]}
    gone_id = f"s3://{LANDING}/{gone['key']}#{gone['etag']}"
    changed_id = f"s3://{LANDING}/{changed['key']}#{changed['etag']}"
    assert set(reasons) == {gone_id, changed_id}
    assert "NoSuchKey" in reasons[gone_id]
    assert "overwritten" in reasons[changed_id]
    assert result["counts"]["rejected"] == 2
    # Their bytes were gone before bundle saw them: nothing to keep, nothing named.
    assert all("quarantineKey" not in rejection for rejection in result["rejected"])


def test_a_rejected_object_is_kept_verbatim_and_named_in_its_rejection(
    bundle: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    good = land(s3, "landed/good.ndjson", b'{"good":1}\n')
    binary_body = b"\x00\x01\x02\xff\xfe binary \x89PNG"
    binary = land(s3, "landed/image.png", binary_body)
    mixed_body = b'{"a":1}\nnot json\n{"b":2}\n[3]\n'
    mixed = land(s3, "landed/mixed.ndjson", mixed_body)

    result = bundle.lambda_handler(objects_envelope(good, binary, mixed), lambda_context)

    assert gzip.decompress(staged(s3, result)) == b'{"good":1}\n{"a":1}\n{"b":2}\n'
    by_key = {r["eventId"].split("#")[0]: r for r in result["rejected"]}
    kept_binary = s3.get_object(
        Bucket=QUARANTINE_BUCKET, Key=by_key[f"s3://{LANDING}/landed/image.png"]["quarantineKey"]
    )
    assert kept_binary["Body"].read() == binary_body
    assert kept_binary["Metadata"]["origin"] == f"s3://{LANDING}/landed/image.png"
    assert "not UTF-8" in kept_binary["Metadata"]["reason"]
    assert "left-out-lines" not in kept_binary["Metadata"]
    kept_mixed = s3.get_object(
        Bucket=QUARANTINE_BUCKET, Key=by_key[f"s3://{LANDING}/landed/mixed.ndjson"]["quarantineKey"]
    )
    assert kept_mixed["Body"].read() == mixed_body
    assert kept_mixed["Metadata"]["left-out-lines"] == "2,4"
    assert kept_mixed["Metadata"]["left-out-total"] == "2"
    assert kept_mixed["Metadata"]["tracking-id"] == result["trackingId"]


def test_a_gzip_object_corrupt_half_way_is_left_out_without_a_trace(
    bundle: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    head = land(s3, "landed/head.ndjson", b'{"head":1}\n')
    whole = stored_gzip_of_random_lines(6 * MIB, seed=2)
    broken = land(s3, "landed/broken.ndjson.gz", whole[: len(whole) // 2])

    result = bundle.lambda_handler(objects_envelope(head, broken), lambda_context)

    assert gzip.decompress(staged(s3, result)) == b'{"head":1}\n'
    [rejection] = result["rejected"]
    assert rejection["index"] == 1
    assert "truncated" in rejection["errors"][0]["reason"]
    assert open_uploads(s3) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=STAGING)["Contents"]] == [
        result["bundle"]["key"]
    ]


class FailingOnSecondRead:
    """The real moto client, except that the second ``get_object`` is throttled."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def get_object(self, **request: Any) -> Any:
        self.reads += 1
        if self.reads == 2:
            raise ClientError(
                {
                    "Error": {"Code": "SlowDown", "Message": "Please reduce your request rate."},
                    "ResponseMetadata": {"HTTPStatusCode": 503},
                },
                "GetObject",
            )
        return self._client.get_object(**request)


def test_a_failure_after_parts_were_uploaded_aborts_the_upload(
    bundle: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    big = land(s3, "landed/big.ndjson.gz", stored_gzip_of_random_lines(9 * MIB, seed=3))
    second = land(s3, "landed/second.ndjson", b'{"second":1}\n')
    failing = FailingOnSecondRead(boto3.client("s3", region_name=REGION))
    bundle.store._client = failing

    with pytest.raises(TransientDependencyError, match="SlowDown"):
        bundle.lambda_handler(objects_envelope(big, second), lambda_context)

    assert failing.reads == 2
    assert open_uploads(s3) == []
    assert "Contents" not in s3.list_objects_v2(Bucket=STAGING)


def test_objects_from_another_bucket_are_rejected(
    bundle: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    s3.create_bucket(Bucket="someone-elses")
    s3.put_object(Bucket="someone-elses", Key="secret.ndjson", Body=b'{"secret":1}\n')
    foreign = {"bucket": "someone-elses", "key": "secret.ndjson", "etag": "", "size": 13}

    result = bundle.lambda_handler(objects_envelope(foreign), lambda_context)

    assert gzip.decompress(staged(s3, result)) == b""
    assert "landing bucket" in result["rejected"][0]["errors"][0]["reason"]
    # Another bucket's object is nobody's input here: bundle does not copy it anywhere.
    assert "quarantineKey" not in result["rejected"][0]


def test_an_envelope_with_nothing_to_bundle_fails_permanently(
    bundle: ModuleType, s3: Any, lambda_context: FakeLambdaContext
) -> None:
    with pytest.raises(InvalidEnvelopeError):
        bundle.lambda_handler({"trackingId": "trk-1", "source": "api"}, lambda_context)
    assert open_uploads(s3) == []


def test_the_function_refuses_to_start_without_its_buckets(
    s3: Any, load_handler: HandlerLoader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(names.STAGING_BUCKET_ENV)

    with pytest.raises(ConfigurationError, match=names.STAGING_BUCKET_ENV):
        load_handler("bundle")
