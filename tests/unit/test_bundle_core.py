"""bundle's streaming writer and orchestration against in-memory fakes: no S3, no moto."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import random
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

import functions.bundle.core as bundle_core
from functions._shared.errors import InvalidEnvelopeError, TransientDependencyError
from functions._shared.parsing import parse_envelope
from functions.bundle.core import (
    GZIP_MAGIC,
    BundleEnvelope,
    Codec,
    GzipNdjsonWriter,
    ObjectUnavailableError,
    S3ObjectRef,
    UnusableObjectError,
    bundle_envelope,
    load_codec,
    zlib_codec,
)
from tests.events import load_event

MIB = 1024 * 1024
LANDING = "landing-bucket"


class ListSink:
    """Keeps every part, in order, and checks they arrive numbered 1, 2, ..."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def upload_part(self, number: int, data: bytes) -> None:
        assert number == len(self.parts) + 1
        self.parts.append(data)

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)


class NullSink:
    """Drops the bytes; counts them, so the bundle is never held by the test either."""

    def __init__(self) -> None:
        self.parts = 0
        self.size = 0

    def upload_part(self, number: int, data: bytes) -> None:
        self.parts += 1
        self.size += len(data)


def chunked(data: bytes, size: int = 7) -> Iterator[bytes]:
    """Odd-sized chunks, so every boundary case (magic bytes, newlines) gets split somewhere."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def sample_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = load_event("bundle_events_envelope.json")["events"]
    return events


def synthetic_event(index: int) -> dict[str, Any]:
    return {
        "eventHeader": {"uuid": f"00000000-0000-4000-8000-{index:012d}", "eventType": "CarCreated"},
        "entities": [{"entityHeader": {"entityId": f"CAR-{index}"}, "mileage": index * 7}],
    }


def gunzip_lines(data: bytes) -> list[bytes]:
    return gzip.decompress(data).splitlines(keepends=True)


def written(events: list[Any] | None = None, **options: Any) -> tuple[bytes, Any]:
    sink = ListSink()
    writer = GzipNdjsonWriter(sink, **options)
    writer.add_events(events if events is not None else sample_events())
    stats = writer.close()
    return sink.data, stats


# --- The gzip NDJSON stream -----------------------------------------------------------------


def test_events_become_one_compact_json_line_each() -> None:
    events = sample_events()

    data, stats = written(events)

    lines = gunzip_lines(data)
    assert [json.loads(line) for line in lines] == events
    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert b": " not in lines[0]
    assert b", " not in lines[0]
    assert stats.count == len(events) == 4


def test_the_stats_describe_the_gzip_bytes_that_were_sent() -> None:
    data, stats = written()

    assert stats.size == len(data)
    assert stats.sha256 == hashlib.sha256(data).hexdigest()
    assert stats.parts == 1


def test_the_same_events_give_the_same_bytes_and_hash() -> None:
    first, first_stats = written()
    second, second_stats = written(copy.deepcopy(sample_events()))

    assert first == second
    assert first_stats.sha256 == second_stats.sha256


def test_the_gzip_header_has_no_timestamp_or_file_name() -> None:
    data, _ = written()

    assert data[:2] == GZIP_MAGIC
    flags, mtime = data[3], int.from_bytes(data[4:8], "little")
    assert mtime == 0
    assert flags == 0  # no FNAME, FCOMMENT or FEXTRA that could differ between runs


def test_text_outside_ascii_is_escaped_so_a_line_never_splits() -> None:
    event = {"note": "caf\u00e9 \u2028 line\u0085sep \U0001f697"}

    data, _ = written([event])

    decompressed = gzip.decompress(data)
    assert decompressed.isascii()
    assert len(decompressed.decode("ascii").splitlines()) == 1
    assert json.loads(decompressed) == event


def test_parts_are_numbered_and_only_the_last_is_smaller_than_the_part_size() -> None:
    rng = random.Random(5)
    events = [{"id": i, "noise": rng.getrandbits(256)} for i in range(20_000)]
    sink = ListSink()
    writer = GzipNdjsonWriter(sink, part_size=16 * 1024)

    writer.add_events(events)
    stats = writer.close()

    assert len(sink.parts) == stats.parts >= 3
    assert all(len(part) >= 16 * 1024 for part in sink.parts[:-1])
    assert len(sink.parts[-1]) > 0
    assert [json.loads(line)["id"] for line in gunzip_lines(sink.data)] == list(range(20_000))


def test_parts_leave_while_the_events_are_still_being_produced() -> None:
    produced = 0
    produced_at_each_part: list[int] = []

    def events() -> Iterator[dict[str, Any]]:
        nonlocal produced
        for index in range(20_000):
            produced += 1
            yield {"id": index, "noise": random.Random(index).getrandbits(512)}

    class Watching(ListSink):
        def upload_part(self, number: int, data: bytes) -> None:
            produced_at_each_part.append(produced)
            super().upload_part(number, data)

    writer = GzipNdjsonWriter(Watching(), part_size=64 * 1024)
    writer.add_events(events())
    writer.close()

    assert len(produced_at_each_part) > 2
    assert produced_at_each_part[0] < 20_000 // 2


def _peak_traced_bytes(body: str) -> int:
    """Peak Python allocations while ``body`` runs, in a fresh interpreter.

    A fresh process, because tracemalloc counts every thread's allocations, and other tests in
    the same worker (a local stack's server threads) would otherwise blur the measure.
    """
    program = (
        textwrap.dedent(
            """
        import tracemalloc
        from tests.unit.test_bundle_core import NullSink, synthetic_event, MIB
        from functions.bundle.core import GzipNdjsonWriter
        tracemalloc.start()
        """
        )
        + textwrap.dedent(body)
        + textwrap.dedent(
            """
        print(tracemalloc.get_traced_memory()[1])
        """
        )
    )
    completed = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(completed.stdout.strip().splitlines()[-1])


def test_memory_stays_flat_for_a_stream_much_larger_than_a_part() -> None:
    peak = _peak_traced_bytes(
        """
        import random
        rng = random.Random(11)
        # 16 distinct lines of random hex (compresses ~2:1) cycled to 32 MiB of input.
        chunks = [
            b'{"h":"' + rng.randbytes(32 * 1024).hex().encode() + b'"}\\n' for _ in range(16)
        ]
        sink = NullSink()
        writer = GzipNdjsonWriter(sink, part_size=1 * MIB)
        tracemalloc.reset_peak()
        writer.add_ndjson(chunks[index % len(chunks)] for index in range(512))
        stats = writer.close()
        assert stats.count == 512, stats
        assert stats.size > 8 * MIB, stats  # the bundle is far bigger than the bound below
        assert sink.parts > 8, sink.parts
        """
    )
    assert peak < 6 * MIB


def test_memory_stays_flat_for_a_generator_of_many_events() -> None:
    peak = _peak_traced_bytes(
        """
        sink = NullSink()
        writer = GzipNdjsonWriter(sink, part_size=1 * MIB)
        tracemalloc.reset_peak()
        count = writer.add_events(synthetic_event(index) for index in range(100_000))
        writer.close()
        assert count == 100_000, count
        """
    )
    assert peak < 6 * MIB  # 100,000 events held at once would take tens of MiB


def test_an_empty_bundle_is_still_a_valid_gzip_file() -> None:
    data, stats = written([])

    assert gzip.decompress(data) == b""
    assert (stats.count, stats.parts, stats.size) == (0, 1, len(data))


def test_a_closed_bundle_takes_nothing_more() -> None:
    writer = GzipNdjsonWriter(ListSink())
    writer.close()

    with pytest.raises(RuntimeError):
        writer.add_events([{"a": 1}])
    with pytest.raises(RuntimeError):
        writer.close()


@pytest.mark.parametrize("codec", [load_codec(), zlib_codec()], ids=lambda codec: codec.name)
def test_both_codecs_write_and_verify_the_same_content(codec: Codec) -> None:
    member = gzip.compress(b'{"g":1}\n', mtime=0)
    sink = ListSink()
    writer = GzipNdjsonWriter(sink, codec=codec)

    writer.add_events([{"e": 1}])
    writer.add_object([member], name="m.gz")
    writer.add_object([b'{"p":2}'], name="p.json")
    writer.close()

    assert gzip.decompress(sink.data) == b'{"e":1}\n{"g":1}\n{"p":2}\n'
    assert sink.data[4:8] == b"\0\0\0\0"
    with pytest.raises(UnusableObjectError, match="truncated"):
        GzipNdjsonWriter(ListSink(), codec=codec).add_object([member[:-4]], name="cut.gz")


# --- Objects ----------------------------------------------------------------------------------


def bundle_of(*objects: tuple[bytes, str, str | None]) -> tuple[bytes, int]:
    sink = ListSink()
    writer = GzipNdjsonWriter(sink)
    for data, name, encoding in objects:
        writer.add_object(chunked(data), name=name, content_encoding=encoding)
    stats = writer.close()
    return sink.data, stats.count


def test_ndjson_objects_are_copied_line_for_line_with_a_final_newline_added() -> None:
    data, count = bundle_of(
        (b'{"a":1}\n{"b":2}', "one.json", None),
        (b'{"c":3}\r\n', "two.json", None),
        (b"", "empty.json", None),
        (b'{"d":4}\n', "three.json", None),
    )

    assert gzip.decompress(data) == b'{"a":1}\n{"b":2}\n{"c":3}\r\n{"d":4}\n'
    assert count == 4


def test_gzip_objects_pass_through_as_members_without_recompression() -> None:
    member = gzip.compress(b'{"g":1}\n{"g":2}\n', compresslevel=9, mtime=0)

    data, count = bundle_of(
        (b'{"a":1}\n', "before.json", None),
        (member, "middle.ndjson.gz", None),
        (b'{"z":9}\n', "after.json", None),
    )

    assert member in data  # the very bytes, not a recompression
    assert gzip.decompress(data) == b'{"a":1}\n{"g":1}\n{"g":2}\n{"z":9}\n'
    assert count == 4


def test_gzip_is_recognised_by_its_magic_bytes_whatever_the_name() -> None:
    member = gzip.compress(b'{"g":1}\n', mtime=0)

    data, count = bundle_of((member, "no-extension", None))

    assert member in data
    assert count == 1


def test_a_gzip_object_of_several_members_without_a_final_newline_is_completed() -> None:
    members = gzip.compress(b'{"a":1}\n', mtime=0) + gzip.compress(b'{"b":2}', mtime=0)

    data, count = bundle_of((members, "two-members.gz", "gzip"), (b'{"c":3}\n', "c.json", None))

    assert gzip.decompress(data) == b'{"a":1}\n{"b":2}\n{"c":3}\n'
    assert count == 3


def test_an_object_declared_gzip_without_the_magic_bytes_is_unusable_but_untouched() -> None:
    for name, encoding in (("data.ndjson.gz", None), ("data.ndjson", "gzip")):
        writer = GzipNdjsonWriter(ListSink())

        with pytest.raises(UnusableObjectError) as caught:
            writer.add_object(chunked(b'{"a":1}\n'), name=name, content_encoding=encoding)

        assert "magic" in caught.value.reason
        assert caught.value.contaminated is False


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda member: member[:-6], "truncated"),
        (lambda member: member[:-8] + bytes([member[-8] ^ 0xFF]) + member[-7:], "not valid gzip"),
        (lambda member: member + b"\x00\x00\x00\x00", "not valid gzip"),
        (lambda member: member + b"trailing junk", "not valid gzip"),
    ],
    ids=["truncated", "bad-crc", "zero-padding", "trailing-bytes"],
)
def test_damaged_gzip_found_after_its_bytes_were_written_is_reported_as_contaminating(
    damage: Any, reason: str
) -> None:
    member = gzip.compress(b"".join(b'{"n":%d}\n' % n for n in range(2000)), mtime=0)
    writer = GzipNdjsonWriter(ListSink())

    with pytest.raises(UnusableObjectError) as caught:
        writer.add_object(chunked(damage(member), 4096), name="x.gz")

    assert reason in caught.value.reason
    assert caught.value.contaminated is True


def test_a_bad_gzip_header_is_caught_before_anything_is_written() -> None:
    writer = GzipNdjsonWriter(ListSink())

    with pytest.raises(UnusableObjectError) as caught:
        writer.add_object([GZIP_MAGIC + b"\x63garbage"], name="x.gz")

    assert caught.value.contaminated is False


def test_inflating_a_highly_compressed_object_keeps_memory_flat() -> None:
    peak = _peak_traced_bytes(
        """
        import zlib
        from tests.unit.test_bundle_core import chunked
        # 64 MiB of repetitive lines deflate to well under 1 MiB; inflating a read at once would
        # not. Lines of 4 KiB, as each line is judged on the way and that is not measured here.
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        line = b'{"k":"' + b"0" * 4088 + b'"}\\n'
        block = line * (MIB // len(line))
        member = b"".join(compressor.compress(block) for _ in range(64)) + compressor.flush()
        assert len(member) < MIB
        writer = GzipNdjsonWriter(NullSink(), part_size=MIB)
        tracemalloc.reset_peak()
        count = writer.add_object(chunked(member, 64 * 1024), name="bomb.gz")
        assert count == 64 * (MIB // len(line)), count
        """
    )
    assert peak < 8 * MIB


# --- The envelope and the orchestration ---------------------------------------------------------


class FakeUpload(ListSink):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.state = "open"

    def complete(self) -> None:
        assert self.state == "open"
        self.state = "completed"

    def abort(self) -> None:
        assert self.state == "open"
        self.state = "aborted"


class FakeStaging:
    bucket = "staging-bucket"
    part_size = 5 * MIB

    def __init__(self) -> None:
        self.uploads: list[FakeUpload] = []

    def start(self, key: str) -> FakeUpload:
        upload = FakeUpload(key)
        self.uploads.append(upload)
        return upload

    @property
    def completed(self) -> FakeUpload:
        [upload] = [upload for upload in self.uploads if upload.state == "completed"]
        return upload


class FakeObject:
    def __init__(self, data: bytes | Exception, content_encoding: str | None) -> None:
        self.data = data
        self.content_encoding = content_encoding
        self.closed = False

    def chunks(self) -> Iterator[bytes]:
        if isinstance(self.data, Exception):
            yield b'{"partial":true}\n'
            raise self.data
        yield from chunked(self.data, 1000)

    def close(self) -> None:
        self.closed = True


class FakeSource:
    """Objects by key: bytes, an exception raised while reading, or missing altogether."""

    def __init__(self, objects: dict[str, bytes | Exception]) -> None:
        self.objects = objects
        self.opened: list[FakeObject] = []

    def open(self, ref: S3ObjectRef) -> FakeObject:
        if ref.key not in self.objects:
            raise ObjectUnavailableError("the object no longer exists (NoSuchKey)")
        stored = FakeObject(self.objects[ref.key], None)
        self.opened.append(stored)
        return stored


def objects_envelope(*keys: str, bucket: str = LANDING, **extra: Any) -> BundleEnvelope:
    return BundleEnvelope.model_validate(
        {
            "trackingId": "trk-obj",
            "source": "s3",
            "objects": [{"bucket": bucket, "key": key, "etag": f"etag-{key}"} for key in keys],
            "counts": {"received": len(keys), "fresh": len(keys), "duplicates": 0},
            **extra,
        }
    )


def run(
    envelope: BundleEnvelope, source: FakeSource | None = None
) -> tuple[bundle_core.BundleOutcome, FakeStaging]:
    staging = FakeStaging()
    outcome = bundle_envelope(
        envelope,
        source or FakeSource({}),
        staging,
        landing_bucket=LANDING,
        new_id=lambda: "fixed-id",
    )
    return outcome, staging


def test_the_events_are_replaced_by_a_pointer_to_their_bundle() -> None:
    payload = load_event("bundle_events_envelope.json")

    outcome, staging = run(BundleEnvelope.model_validate(payload))

    result = outcome.payload
    assert "events" not in result
    assert "objects" not in result
    upload = staging.completed
    assert result["bundle"] == {
        "bucket": "staging-bucket",
        "key": "staging/trk-20240302-bundle/fixed-id.ndjson.gz",
        "size": len(upload.data),
        "sha256": hashlib.sha256(upload.data).hexdigest(),
        "count": 4,
    }
    assert upload.key == result["bundle"]["key"]
    assert [json.loads(line) for line in gunzip_lines(upload.data)] == payload["events"]
    for key in ("trackingId", "source", "rejected", "duplicates", "counts"):
        assert result[key] == payload[key]


def test_keys_the_envelope_does_not_name_pass_through() -> None:
    payload = {"trackingId": "trk-x", "events": [{"a": 1}], "park": {"checks": 0}, "extra": [1]}

    outcome, _ = run(BundleEnvelope.model_validate(payload))

    assert outcome.payload["park"] == {"checks": 0}
    assert outcome.payload["extra"] == [1]


def test_objects_are_bundled_in_order_and_vanished_ones_rejected() -> None:
    source = FakeSource({"a.json": b'{"a":1}\n', "c.json.gz": gzip.compress(b'{"c":3}\n')})
    envelope = objects_envelope("a.json", "b.json", "c.json.gz", rejected=[{"index": 9}])

    outcome, staging = run(envelope, source)

    assert gzip.decompress(staging.completed.data) == b'{"a":1}\n{"c":3}\n'
    assert outcome.payload["bundle"]["count"] == 2
    assert outcome.payload["rejected"] == [
        {"index": 9},
        {
            "index": 1,
            "eventId": f"s3://{LANDING}/b.json#etag-b.json",
            "errors": [{"field": "$", "reason": "the object no longer exists (NoSuchKey)"}],
        },
    ]
    assert outcome.payload["counts"]["rejected"] == 1
    assert all(stored.closed for stored in source.opened)


def test_objects_outside_the_landing_bucket_are_rejected_unread() -> None:
    source = FakeSource({"a.json": b'{"a":1}\n'})

    outcome, _ = run(objects_envelope("a.json", bucket="someone-elses"), source)

    assert source.opened == []
    [rejection] = outcome.payload["rejected"]
    assert "landing bucket" in rejection["errors"][0]["reason"]
    assert outcome.payload["bundle"]["count"] == 0


def test_a_gzip_object_found_damaged_half_way_is_left_out_by_rebuilding_the_bundle() -> None:
    big = b"".join(b'{"n":%d}\n' % n for n in range(50_000))
    source = FakeSource(
        {"a.json": b'{"a":1}\n', "bad.gz": gzip.compress(big)[:-10], "c.json": b'{"c":3}\n'}
    )

    outcome, staging = run(objects_envelope("a.json", "bad.gz", "c.json"), source)

    assert [upload.state for upload in staging.uploads] == ["aborted", "completed"]
    assert staging.uploads[0].key == staging.uploads[1].key
    assert gzip.decompress(staging.completed.data) == b'{"a":1}\n{"c":3}\n'
    assert outcome.attempts == 2
    [rejection] = outcome.payload["rejected"]
    assert rejection["index"] == 1
    assert "truncated" in rejection["errors"][0]["reason"]
    assert all(stored.closed for stored in source.opened)


def test_a_read_failure_aborts_the_upload_and_is_raised() -> None:
    source = FakeSource(
        {"a.json": b'{"a":1}\n', "b.json": TransientDependencyError("read of b: SlowDown")}
    )

    with pytest.raises(TransientDependencyError):
        run(objects_envelope("a.json", "b.json"), source)

    # run() raised before returning its staging; check through a fresh one instead.
    staging = FakeStaging()
    with pytest.raises(TransientDependencyError):
        bundle_envelope(
            objects_envelope("a.json", "b.json"), source, staging, landing_bucket=LANDING
        )
    [upload] = staging.uploads
    assert upload.state == "aborted"
    assert all(stored.closed for stored in source.opened)


def test_events_and_objects_together_go_into_one_bundle() -> None:
    envelope = objects_envelope("a.json", events=[{"e": 1}])

    outcome, staging = run(envelope, FakeSource({"a.json": b'{"a":1}'}))

    assert gzip.decompress(staging.completed.data) == b'{"e":1}\n{"a":1}\n'
    assert outcome.payload["bundle"]["count"] == 2


def test_an_envelope_with_nothing_to_bundle_is_invalid() -> None:
    with pytest.raises(ValidationError):
        BundleEnvelope.model_validate({"trackingId": "trk-1"})
    with pytest.raises(InvalidEnvelopeError):
        parse_envelope({"trackingId": "trk-1", "objects": [{"key": "k"}]}, BundleEnvelope)
    with pytest.raises(InvalidEnvelopeError):
        parse_envelope({"events": []}, BundleEnvelope)


# --- Objects that are not UTF-8 NDJSON, and bad lines ----------------------------------------

PNG_HEAD = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 8


def test_a_binary_object_beside_a_good_one_is_rejected_alone_with_its_reason() -> None:
    source = FakeSource({"good.json": b'{"a":1}\n{"a":2}\n', "image.png": PNG_HEAD})
    envelope = objects_envelope("image.png", "good.json")

    outcome, staging = run(envelope, source)

    assert gzip.decompress(staging.completed.data) == b'{"a":1}\n{"a":2}\n'
    assert outcome.payload["bundle"]["count"] == 2
    [rejection] = outcome.payload["rejected"]
    assert rejection["index"] == 0
    assert rejection["eventId"] == f"s3://{LANDING}/image.png#etag-image.png"
    assert rejection["errors"] == [
        {
            "field": "$",
            "reason": "is not UTF-8 NDJSON: a NUL byte at offset 8 (a binary object?)",
        }
    ]
    assert outcome.payload["counts"]["rejected"] == 1


def test_bad_lines_are_left_out_alone_and_the_good_lines_of_their_object_bundled() -> None:
    data = b'{"a":1}\n[1]\n\n{"a": 1e400}\nnot json\r\n{"a":2}\n{"a":\xff}\n{"a":3}'
    source = FakeSource({"mixed.ndjson": data})

    outcome, staging = run(objects_envelope("mixed.ndjson"), source)

    assert gzip.decompress(staging.completed.data) == b'{"a":1}\n{"a":2}\n{"a":3}\n'
    assert outcome.payload["bundle"]["count"] == 3
    [rejection] = outcome.payload["rejected"]
    assert rejection["lines"] == 4
    assert [error["field"] for error in rejection["errors"]] == [
        "lines.2",
        "lines.4",
        "lines.5",
        "lines.7",
    ]
    reasons = [error["reason"] for error in rejection["errors"]]
    assert reasons[0] == "must be a JSON object, got array"
    assert reasons[1] == "is not valid JSON: 1e400 is not a finite number"
    assert reasons[3] == "is not valid UTF-8 (byte 0xff at offset 5)"


def test_a_gzip_object_with_a_bad_line_is_bundled_anew_without_it() -> None:
    member = gzip.compress(b'{"g":1}\nNaN\n{"g":2}\n')
    source = FakeSource({"a.json": b'{"a":1}\n', "g.json.gz": member})

    outcome, staging = run(objects_envelope("a.json", "g.json.gz"), source)

    assert outcome.attempts == 2
    assert gzip.decompress(staging.completed.data) == b'{"a":1}\n{"g":1}\n{"g":2}\n'
    [rejection] = outcome.payload["rejected"]
    assert rejection["errors"] == [
        {"field": "lines.2", "reason": "is not valid JSON: NaN is not a JSON number"}
    ]


def test_a_gzip_object_inflating_to_binary_is_rejected_whole() -> None:
    source = FakeSource({"a.json": b'{"a":1}\n', "b.bin.gz": gzip.compress(PNG_HEAD)})

    outcome, staging = run(objects_envelope("a.json", "b.bin.gz"), source)

    assert gzip.decompress(staging.completed.data) == b'{"a":1}\n'
    [rejection] = outcome.payload["rejected"]
    assert rejection["errors"][0]["reason"].startswith("inflated, it is not UTF-8 NDJSON")


def test_a_line_longer_than_the_limit_is_refused_without_being_held() -> None:
    from functions.bundle.lines import LineScreen

    screen = LineScreen(max_line_bytes=16)
    kept = screen.feed(b'{"a":1}\n{"long":"') + screen.feed(b"x" * 100) + screen.feed(b'"}\n{}')
    kept += screen.finish()

    assert kept == b'{"a":1}\n{}\n'
    assert screen.bad.listed == [(2, "is longer than 16 bytes")]
