"""Any bytes in a landed object: the bundle holds only lines the downstream can read, every other
line is counted out with a reason, and an object is either bundled that way or rejected whole."""

from __future__ import annotations

import gzip
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from functions.bundle.core import GzipNdjsonWriter, UnusableObjectError
from functions.bundle.lines import BadLines, LineScreen
from tests.property.conftest import count_example
from tests.property.strategies import json_values
from tests.unit.test_bundle_core import ListSink


def _line(value: Any) -> bytes:
    return json.dumps(value).encode("utf-8", "surrogatepass")


lines = st.one_of(
    st.dictionaries(st.text(max_size=5), json_values, max_size=3).map(_line),
    json_values.map(_line),
    st.binary(max_size=64),
    st.sampled_from([b"", b"\r", b"   ", b'{"a":1e400}', b"NaN", b'{"a":"\\ud800"}', b"\x00"]),
)


@st.composite
def objects(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """An object's bytes (lines joined by newlines, maybe a final one) cut into chunks."""
    data = b"\n".join(draw(st.lists(lines, max_size=8)))
    if draw(st.booleans()):
        data += b"\n"
    cuts = sorted(draw(st.lists(st.integers(min_value=0, max_value=len(data)), max_size=5)))
    chunks = [data[start:end] for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return data, chunks


def _readable(line: bytes) -> bool:
    try:
        value = json.loads(line.decode("utf-8"), parse_constant=lambda name: 1 / 0)
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, ZeroDivisionError, UnicodeError):
        return False
    return isinstance(value, dict)


@given(objects())
def test_the_line_screen_keeps_exactly_the_readable_lines(obj: tuple[bytes, list[bytes]]) -> None:
    count_example("bundle: line reader, arbitrary bytes in arbitrary chunks")
    data, chunks = obj
    screen = LineScreen()

    kept = b"".join(screen.feed(chunk) for chunk in chunks) + screen.finish()

    expected = [line for line in data.split(b"\n") if line.strip() and _readable(line)]
    assert kept == b"".join(line + b"\n" for line in expected)
    non_blank = [line for line in data.split(b"\n") if line.strip()]
    assert screen.kept + screen.bad.count == len(non_blank)
    assert all(reason for _, reason in screen.bad.listed)


@given(objects(), st.booleans())
@example(obj=(b"\x1f\x8b", [b"\x1f\x8b"]), compressed=False)
def test_an_object_is_bundled_line_by_line_or_rejected_whole(
    obj: tuple[bytes, list[bytes]], compressed: bool
) -> None:
    count_example("bundle: objects of arbitrary bytes, plain or gzip")
    data, chunks = obj
    if compressed:
        chunks = [gzip.compress(data, mtime=0)]
    sink = ListSink()
    writer = GzipNdjsonWriter(sink, part_size=1 << 20)
    bad_lines = BadLines()
    refusal: str | None = None
    try:
        writer.add_object(chunks, name="landed", bad_lines=bad_lines, reencode=compressed)
    except UnusableObjectError as error:
        refusal = error.reason
    if refusal is not None:
        # Bytes that start with the gzip magic are read as gzip, so arbitrary bytes can also be
        # refused as broken gzip (found by hypothesis: b"\x1f\x8b" alone is a truncated member).
        assert refusal.startswith(
            (
                "is not UTF-8 NDJSON",
                "inflated, it is not UTF-8",
                "not valid gzip",
                "truncated gzip",
            )
        )
        return
    stats = writer.close()
    bundled = gzip.decompress(sink.data).split(b"\n")
    assert bundled[-1] == b""
    assert all(_readable(line) for line in bundled[:-1])
    assert stats.count == len(bundled) - 1
