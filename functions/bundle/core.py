"""Stream events or S3 objects into one gzip NDJSON bundle; no I/O beyond the ports.

The bundle is one gzip file of NDJSON, one JSON value per line, written in parts to a
:class:`PartSink` (a multipart upload on AWS) while its SHA-256 is computed on the way. Memory
stays flat whatever the input: at most one part of compressed output is buffered, objects are
read in 64 KiB chunks, and inflating a gzip object is capped per call.

Decisions, and why:

- **Compression**: ISA-L (python-isal) at level 1. On this project's JSON records ISA-L level 1
  and 2 compress equally well (ratio 6.21 vs 6.22) and level 1 is ~8% faster; level 3 is ~3x
  slower for no gain; stdlib zlib level 6 is ~12x slower. Without ``isal`` installed the stdlib
  ``zlib`` at level 1 (the same API) takes over, so the code runs anywhere, only slower.
- **Determinism**: the gzip header carries no timestamp or file name (``mtime`` 0), events are
  encoded with fixed separators and ASCII escapes, so the same input gives the same bytes, the
  same SHA-256 and therefore the same archive key.
- **Already-compressed objects pass through.** Re-compressing them would cost a full inflate and
  deflate for nothing, so their gzip members are copied into the bundle as they are and the
  bundle becomes a concatenation of members, which RFC 1952 (2.2) defines as one gzip file
  (``gzip -d``, Python's ``gzip``, Java's ``GZIPInputStream``, Go and urllib3 read all members).
  The member is still inflated on the way, never stored, to prove it is valid gzip, count its
  lines and see whether it ends with a newline (if not, one is added in a member of its own).
  A bundle of events or of plain NDJSON objects is a single member.
- **An unusable object never fails the batch.** One that vanished, was overwritten since its
  notification (ETag), lives in another bucket, or is not the gzip it claims to be is reported
  in ``rejected``; the rest is bundled. If the problem shows only after some of its bytes were
  written (a gzip object truncated or corrupt half way), the upload is aborted and the bundle
  rebuilt without it, so the bundle never holds part of an object.
- **Staging key**: ``staging/{trackingId}/{random}.ndjson.gz``. The SHA-256 is known only once
  the last byte is written, and copying the staged bundle to a SHA-named key would copy every
  bundle twice (archive copies it to its content-addressed key anyway). A fresh key per attempt
  also keeps two racing attempts of one execution from overwriting each other's upload.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from typing import Annotated, Any, Final, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from functions._shared.models import NonBlankName, TrackingId, json_payload
from functions.bundle.lines import SNIFF_BYTES, BadLines, LineScreen, binary_problem

READ_SIZE: Final = 64 * 1024
"""Bytes per read of an S3 object, and the batch size events are compressed in."""

DEFAULT_PART_SIZE: Final = 8 * 1024 * 1024
"""Bytes of compressed output per uploaded part (S3 wants at least 5 MiB but for the last)."""

COMPRESSION_LEVEL: Final = 1
"""See the module docstring: ISA-L level 1 compresses JSON as well as level 2, and faster."""

GZIP_MAGIC: Final = b"\x1f\x8b"
_GZIP_WBITS: Final = 16 + 15
# Inflating a 64 KiB chunk of a highly repetitive object could otherwise yield megabytes at once.
_INFLATE_LIMIT: Final = 256 * 1024
_NEWLINE: Final = b"\n"
# Compact and ASCII-only: fixed bytes for equal input, and no U+2028/U+0085 inside a line that
# a reader splitting on Unicode line breaks (Python's str.splitlines) would cut in two.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), check_circular=False)


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


class Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    @property
    def unconsumed_tail(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes: ...


@dataclass(frozen=True)
class Codec:
    """The deflate implementation in use: ISA-L when installed, the stdlib otherwise."""

    name: str
    compressor: Callable[[], Compressor]
    decompressor: Callable[[], Decompressor]
    error: tuple[type[BaseException], ...]


def zlib_codec() -> Codec:
    """The stdlib's deflate at :data:`COMPRESSION_LEVEL`: everywhere, ~7x slower than ISA-L.

    >>> zlib_codec().name
    'zlib'
    """
    import zlib

    return Codec(
        name="zlib",
        compressor=lambda: zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, _GZIP_WBITS),
        decompressor=lambda: zlib.decompressobj(_GZIP_WBITS),
        error=(zlib.error,),
    )


def load_codec() -> Codec:
    """ISA-L's zlib-compatible API if ``isal`` is installed, else :func:`zlib_codec`.

    >>> load_codec().name in {"isal", "zlib"}
    True
    """
    try:
        from isal import isal_zlib
    except ImportError:  # pragma: no cover - the tests run with isal installed
        return zlib_codec()
    isal_error: type[BaseException] = isal_zlib.error  # type: ignore[assignment]
    return Codec(
        name="isal",
        compressor=lambda: isal_zlib.compressobj(
            COMPRESSION_LEVEL, isal_zlib.DEFLATED, _GZIP_WBITS
        ),
        decompressor=lambda: isal_zlib.decompressobj(_GZIP_WBITS),
        error=(isal_error,),
    )


CODEC: Final = load_codec()


class PartSink(Protocol):
    """Where the compressed bundle goes, one numbered part at a time (1, 2, ...).

    Every part but the last is at least the writer's ``part_size`` bytes.
    """

    def upload_part(self, number: int, data: bytes) -> None: ...


class UnusableObjectError(Exception):
    """An object that cannot go into the bundle; ``contaminated`` if some of it already did."""

    def __init__(self, reason: str, *, contaminated: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.contaminated = contaminated


class BadLinesInGzipError(UnusableObjectError):
    """A gzip object holds lines that cannot be bundled, so it cannot pass through unchanged.

    It can still be bundled line by line: pass ``reencode=True`` to
    :meth:`GzipNdjsonWriter.add_object` (in a fresh bundle, as its members are partly written).
    """


@dataclass(frozen=True)
class BundleStats:
    """What the bundle turned out to be: ``size`` and ``sha256`` are of the gzip bytes."""

    size: int
    sha256: str
    count: int
    parts: int


class GzipNdjsonWriter:
    """Stream NDJSON lines into one gzip bundle, in parts of ``part_size`` bytes to ``sink``.

    Events are encoded one per line; objects are copied line for line (a missing final newline
    is added); gzip objects pass through as members (see the module docstring). Call
    :meth:`close` once at the end for the sizes and the hash.

    >>> import gzip
    >>> parts = {}
    >>> class Parts:
    ...     def upload_part(self, number, data):
    ...         parts[number] = data
    >>> writer = GzipNdjsonWriter(Parts(), part_size=1024)
    >>> writer.add_events([{"a": 1}, {"b": [2, 3]}])
    2
    >>> writer.add_object([b'{"c":4}'], name="landed/c.json")
    1
    >>> writer.add_object([gzip.compress(b'{"d":5}\\n')], name="landed/d.json.gz")
    1
    >>> stats = writer.close()
    >>> gzip.decompress(b"".join(parts.values()))
    b'{"a":1}\\n{"b":[2,3]}\\n{"c":4}\\n{"d":5}\\n'
    >>> stats.count, stats.parts, len(stats.sha256)
    (4, 1, 64)
    """

    def __init__(
        self, sink: PartSink, *, part_size: int = DEFAULT_PART_SIZE, codec: Codec = CODEC
    ) -> None:
        if part_size < 1:
            raise ValueError("part_size must be positive")
        self._sink = sink
        self._part_size = part_size
        self._codec = codec
        self._compressor: Compressor | None = None
        # Output waiting for the next part, joined once when it is sent (one copy, not two).
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._sha256 = hashlib.sha256()
        self._size = 0
        self._parts = 0
        self._lines = 0
        # Bytes taken into the bundle in any form; tells whether a failed object left a trace.
        self._taken = 0
        self._closed = False

    def add_events(self, events: Iterable[Any]) -> int:
        """Write each event as one compact JSON line; returns how many were written.

        ``events`` is consumed lazily, so a generator is never held in memory as a whole.
        """
        batch: list[bytes] = []
        batched = 0
        written = 0
        for event in events:
            line = _ENCODER.encode(event).encode("ascii") + _NEWLINE
            batch.append(line)
            batched += len(line)
            written += 1
            if batched >= READ_SIZE:
                self._deflate(b"".join(batch))
                batch.clear()
                batched = 0
        if batch:
            self._deflate(b"".join(batch))
        self._lines += written
        return written

    def add_object(
        self,
        chunks: Iterable[bytes],
        *,
        name: str,
        content_encoding: str | None = None,
        bad_lines: BadLines | None = None,
        reencode: bool = False,
    ) -> int:
        """Copy one stored object's lines in; returns the lines it added.

        Gzip is recognised by its magic bytes; a ``.gz`` name or ``Content-Encoding: gzip``
        without them means the object is not what it claims, which raises
        :class:`UnusableObjectError` (as does gzip that does not inflate cleanly, and an object
        that is not UTF-8 text). Lines that cannot be bundled are left out and recorded in
        ``bad_lines``; a gzip object holding any raises :class:`BadLinesInGzipError` unless
        ``reencode`` (then its lines are inflated, judged and compressed anew). An empty object
        adds nothing.
        """
        stream = iter(chunks)
        head = b""
        exhausted = True
        for chunk in stream:
            head += chunk
            if len(head) >= len(GZIP_MAGIC) and (
                head.startswith(GZIP_MAGIC) or len(head) >= SNIFF_BYTES
            ):
                exhausted = False
                break
        if not head:
            return 0
        rest = chain((head,), stream)
        if head.startswith(GZIP_MAGIC):
            if reencode:
                inflated: list[bytes] = []
                inflater = _MemberInflater(self._codec, on_output=inflated.append)
                return self.add_ndjson(_drained(rest, inflater, inflated), bad_lines=bad_lines)
            return self.add_gzip(rest, bad_lines=bad_lines)
        if declares_gzip(name, content_encoding):
            raise UnusableObjectError(
                "declared gzip (by its name or Content-Encoding) but does not start with the "
                "gzip magic bytes"
            )
        problem = binary_problem(head[:SNIFF_BYTES], complete=exhausted)
        if problem is not None:
            raise UnusableObjectError(problem)
        return self.add_ndjson(rest, bad_lines=bad_lines)

    def add_ndjson(self, chunks: Iterable[bytes], *, bad_lines: BadLines | None = None) -> int:
        """Copy the good lines of NDJSON bytes, each ending with a newline; returns how many.

        Lines that cannot be bundled (see :mod:`functions.bundle.lines`) are left out and, when
        ``bad_lines`` is given, recorded there.
        """
        # The hot loop of a bundle of objects, so it works on locals: attribute lookups and
        # method calls per 64 KiB chunk cost ~10% of the throughput otherwise.
        compress = self._open_member().compress
        emit = self._emit
        screen = LineScreen()
        screen_feed = screen.feed
        taken = 0
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                kept = screen_feed(chunk)
                taken += len(kept)
                compressed = compress(kept)
                if compressed:
                    emit(compressed)
            last = screen.finish()
            if last:
                self._deflate(last)
        finally:
            self._taken += taken
            if bad_lines is not None:
                bad_lines.count += screen.bad.count
                bad_lines.listed += screen.bad.listed
        self._lines += screen.kept
        return screen.kept

    def add_gzip(self, chunks: Iterable[bytes], *, bad_lines: BadLines | None = None) -> int:
        """Append gzip members unchanged, after proving they inflate to good NDJSON lines.

        Raises :class:`UnusableObjectError` (``contaminated`` when bytes of it were already
        written) if the data is not gzip, is truncated, fails its CRC, has trailing bytes or
        inflates to something that is not UTF-8 text, and :class:`BadLinesInGzipError` if any
        line cannot be bundled (the member cannot be copied without it).
        """
        start = self._taken
        self._finish_member()
        check = _InflatedLinesCheck()
        inflater = _MemberInflater(self._codec, on_output=check.feed)
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                inflater.feed(chunk)
                self._emit(chunk)
                self._taken += len(chunk)
            inflater.finish()
            check.finish()
        except UnusableObjectError as error:
            error.contaminated = self._taken != start
            raise
        if bad_lines is not None:
            bad_lines.count += check.screen.bad.count
            bad_lines.listed += check.screen.bad.listed
        lines = inflater.newlines
        if inflater.last_byte not in (b"", _NEWLINE):
            self._deflate(_NEWLINE)
            lines += 1
        self._lines += lines
        return lines

    def close(self) -> BundleStats:
        """Finish the gzip stream, send the last part, and describe the bundle."""
        if self._closed:
            raise RuntimeError("the bundle is already closed")
        self._closed = True
        self._finish_member()
        if self._size == 0:
            # Nothing was written at all: an empty member keeps the bundle a valid gzip file.
            self._emit(self._codec.compressor().flush())
        if self._pending:
            self._send_part()
        return BundleStats(
            size=self._size, sha256=self._sha256.hexdigest(), count=self._lines, parts=self._parts
        )

    def _open_member(self) -> Compressor:
        if self._closed:
            raise RuntimeError("the bundle is already closed")
        if self._compressor is None:
            self._compressor = self._codec.compressor()
        return self._compressor

    def _deflate(self, data: bytes) -> None:
        compressor = self._open_member()
        self._taken += len(data)
        compressed = compressor.compress(data)
        if compressed:
            self._emit(compressed)

    def _finish_member(self) -> None:
        if self._compressor is not None:
            self._emit(self._compressor.flush())
            self._compressor = None

    def _emit(self, data: bytes) -> None:
        self._sha256.update(data)
        self._size += len(data)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= self._part_size:
            self._send_part()

    def _send_part(self) -> None:
        part = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        self._parts += 1
        self._sink.upload_part(self._parts, part)


class _MemberInflater:
    """Inflate gzip members to check them and count lines, handing the output to ``on_output``."""

    def __init__(self, codec: Codec, on_output: Callable[[bytes], None] | None = None) -> None:
        self._codec = codec
        self._on_output = on_output
        self._decompressor = codec.decompressor()
        self._member_done = False
        self.newlines = 0
        self.last_byte = b""

    def feed(self, data: bytes) -> None:
        while True:
            if self._member_done:
                # Bytes after a member must start another member: zero padding or other
                # trailing bytes would corrupt the concatenation for every reader after them.
                if not GZIP_MAGIC.startswith(data[: len(GZIP_MAGIC)]):
                    raise UnusableObjectError(
                        "not valid gzip: bytes after the last member (padding or junk)"
                    )
                self._decompressor = self._codec.decompressor()
                self._member_done = False
            try:
                out = self._decompressor.decompress(data, _INFLATE_LIMIT)
            except self._codec.error as error:
                raise UnusableObjectError(f"not valid gzip: {error}") from error
            if out:
                self.newlines += out.count(_NEWLINE)
                self.last_byte = out[-1:]
                if self._on_output is not None:
                    self._on_output(out)
            if self._decompressor.eof:
                self._member_done = True
                data = self._decompressor.unused_data
                if not data:
                    return
                continue
            data = self._decompressor.unconsumed_tail
            # A full output buffer may leave inflated bytes pending even when all input is in.
            if not data and len(out) < _INFLATE_LIMIT:
                return

    def finish(self) -> None:
        if not self._member_done:
            raise UnusableObjectError("truncated gzip: the last member has no end")


class _InflatedLinesCheck:
    """Judges a gzip object's inflated bytes as :meth:`GzipNdjsonWriter.add_ndjson` would."""

    def __init__(self) -> None:
        self.screen = LineScreen()
        self._head = b""
        self._sniffed = False

    def feed(self, data: bytes) -> None:
        if not self._sniffed:
            # Sniffed on every feed until the window is full, so that binary content is named
            # as such before its first "line" is judged.
            self._head += data[: SNIFF_BYTES - len(self._head)]
            self._sniff(complete=False)
            self._sniffed = len(self._head) >= SNIFF_BYTES
        self.screen.feed(data)
        self._refuse_bad_lines()

    def finish(self) -> None:
        if not self._sniffed:
            self._sniff(complete=True)
        self.screen.finish()
        self._refuse_bad_lines()

    def _sniff(self, *, complete: bool) -> None:
        problem = binary_problem(self._head, complete=complete)
        if problem is not None:
            raise UnusableObjectError(f"inflated, it {problem}")

    def _refuse_bad_lines(self) -> None:
        if self.screen.bad.count:
            number, reason = self.screen.bad.listed[0]
            raise BadLinesInGzipError(f"line {number} {reason}")


def _drained(
    chunks: Iterable[bytes], inflater: _MemberInflater, inflated: list[bytes]
) -> Iterator[bytes]:
    """The inflated bytes of gzip ``chunks`` as they come; ``inflater`` appends to ``inflated``."""
    for chunk in chunks:
        if chunk:
            inflater.feed(chunk)
            yield from inflated
            inflated.clear()
    inflater.finish()


def declares_gzip(name: str, content_encoding: str | None) -> bool:
    """Whether an object's name or ``Content-Encoding`` says it is gzip.

    >>> declares_gzip("landed/a.ndjson.gz", None), declares_gzip("a.json", "GZIP")
    (True, True)
    >>> declares_gzip("a.json", "identity")
    False
    """
    encodings = {part.strip().lower() for part in (content_encoding or "").split(",")}
    return name.lower().endswith(".gz") or "gzip" in encodings


# --- The envelope ---------------------------------------------------------------------------

_KEEP_EXTRA_KEYS = ConfigDict(extra="allow", serialize_by_alias=True)


class S3ObjectRef(BaseModel):
    """One landed object as validate and dedupe pass it on (the key is already URL-decoded)."""

    model_config = _KEEP_EXTRA_KEYS

    bucket: NonBlankName
    key: str = Field(min_length=1)
    etag: str = ""
    size: Annotated[int, Field(ge=0)] | None = None

    @property
    def object_id(self) -> str:
        """The id dedupe claims the object by: ``s3://{bucket}/{key}#{etag}``."""
        return f"s3://{self.bucket}/{self.key}#{self.etag}"


class BundleEnvelope(BaseModel):
    """bundle's input: dedupe's envelope with fresh ``events``, ``objects``, or both."""

    model_config = _KEEP_EXTRA_KEYS

    tracking_id: TrackingId = Field(alias="trackingId")
    source: str = "unknown"
    events: list[Any] | None = None
    objects: list[S3ObjectRef] | None = None
    rejected: list[Any] = Field(default_factory=list)
    counts: dict[str, Annotated[int, Field(ge=0)]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_something_to_bundle(self) -> BundleEnvelope:
        if self.events is None and self.objects is None:
            raise ValueError("the envelope has neither events nor objects to bundle")
        return self


# --- The ports and the orchestration ----------------------------------------------------------


class StoredObject(Protocol):
    """An object opened for reading; :meth:`close` releases its connection."""

    @property
    def content_encoding(self) -> str | None: ...

    def chunks(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class ObjectUnavailableError(Exception):
    """The object cannot be read for a reason retrying will not change (gone, overwritten)."""


class ObjectSource(Protocol):
    def open(self, ref: S3ObjectRef) -> StoredObject:
        """Open ``ref`` for reading, or raise :class:`ObjectUnavailableError`."""
        ...


class Upload(PartSink, Protocol):
    """One multipart upload: parts, then exactly one of :meth:`complete` or :meth:`abort`."""

    def complete(self) -> None: ...

    def abort(self) -> None:
        """Discard the parts; must not raise, so the error that led here is the one reported."""
        ...


class Staging(Protocol):
    @property
    def bucket(self) -> str: ...

    @property
    def part_size(self) -> int: ...

    def start(self, key: str) -> Upload: ...


@dataclass(frozen=True)
class BundleOutcome:
    """The envelope to return, and what happened on the way (for logs and metrics)."""

    payload: dict[str, Any]
    stats: BundleStats
    key: str
    rejected_objects: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 1


def staging_key(tracking_id: str, unique: str) -> str:
    """Where an attempt stages its bundle (see the module docstring for why not the hash).

    >>> staging_key("trk-1", "3f2a")
    'staging/trk-1/3f2a.ndjson.gz'
    """
    return f"staging/{tracking_id}/{unique}.ndjson.gz"


def object_rejection(index: int, ref: S3ObjectRef, reason: str) -> dict[str, Any]:
    """A rejected object in the shape of the envelope's ``rejected`` entries.

    ``eventId`` is the id dedupe claimed the object by, so a status record names an object the
    same way in ``duplicates`` and in ``rejected``; ``index`` is its place in ``objects``.

    >>> ref = S3ObjectRef(bucket="landing", key="a.json", etag="e1")
    >>> object_rejection(0, ref, "gone")
    {'index': 0, 'eventId': 's3://landing/a.json#e1', 'errors': [{'field': '$', 'reason': 'gone'}]}
    """
    return {"index": index, "eventId": ref.object_id, "errors": [{"field": "$", "reason": reason}]}


def bad_lines_rejection(index: int, ref: S3ObjectRef, bad_lines: BadLines) -> dict[str, Any]:
    """The lines of an object that were left out of the bundle, as one ``rejected`` entry.

    The object's other lines were bundled; ``lines`` says how many were left out.

    >>> bad = BadLines()
    >>> bad.add(2, "must be a JSON object, got array")
    >>> ref = S3ObjectRef(bucket="landing", key="a.json", etag="e1")
    >>> bad_lines_rejection(0, ref, bad)["errors"]
    [{'field': 'lines.2', 'reason': 'must be a JSON object, got array'}]
    """
    return {
        "index": index,
        "eventId": ref.object_id,
        "errors": bad_lines.errors(),
        "lines": bad_lines.count,
    }


class _PartlyWrittenObjectError(Exception):
    def __init__(self, index: int, reason: str, *, reencode: bool = False) -> None:
        super().__init__(reason)
        self.index = index
        self.reason = reason
        self.reencode = reencode


def bundle_envelope(
    envelope: BundleEnvelope,
    source: ObjectSource,
    staging: Staging,
    *,
    landing_bucket: str | None = None,
    new_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> BundleOutcome:
    """Bundle the envelope's events and objects into staging; the envelope comes back without
    them, plus ``bundle`` = ``{"bucket", "key", "size", "sha256", "count"}``.

    Objects outside ``landing_bucket`` (when given) and objects that cannot be used are added
    to ``rejected`` (``counts.rejected`` grows with them). On any other error the upload is
    aborted and the error raised.

    Example::

        outcome = bundle_envelope(envelope, S3BundleStore("stepflow-dev-staging"),
                                  S3BundleStore("stepflow-dev-staging"),
                                  landing_bucket="stepflow-dev-landing")
        outcome.payload["bundle"]["sha256"]
    """
    key = staging_key(envelope.tracking_id, new_id())
    excluded: dict[int, str] = {}
    reencoded: set[int] = set()
    attempts = 0
    while True:
        attempts += 1
        upload = staging.start(key)
        try:
            writer = GzipNdjsonWriter(upload, part_size=staging.part_size)
            if envelope.events:
                writer.add_events(envelope.events)
            rejected = _add_objects(
                writer,
                envelope.objects or [],
                source,
                landing_bucket,
                excluded=excluded,
                reencoded=reencoded,
            )
            stats = writer.close()
            upload.complete()
        except _PartlyWrittenObjectError as rebuild:
            upload.abort()
            if rebuild.reencode:
                reencoded.add(rebuild.index)
            else:
                excluded[rebuild.index] = rebuild.reason
            continue
        except BaseException:
            upload.abort()
            raise
        break

    payload = json_payload(envelope, passthrough=frozenset({"events", "rejected"}))
    payload.pop("events", None)
    payload.pop("objects", None)
    payload["rejected"] = [*envelope.rejected, *rejected]
    if rejected:
        counts = dict(envelope.counts)
        counts["rejected"] = counts.get("rejected", 0) + len(rejected)
        payload["counts"] = counts
    payload["bundle"] = {
        "bucket": staging.bucket,
        "key": key,
        "size": stats.size,
        "sha256": stats.sha256,
        "count": stats.count,
    }
    return BundleOutcome(
        payload=payload, stats=stats, key=key, rejected_objects=rejected, attempts=attempts
    )


def _add_objects(
    writer: GzipNdjsonWriter,
    objects: list[S3ObjectRef],
    source: ObjectSource,
    landing_bucket: str | None,
    *,
    excluded: dict[int, str],
    reencoded: set[int],
) -> list[dict[str, Any]]:
    rejected: list[dict[str, Any]] = []
    for index, ref in enumerate(objects):
        if index in excluded:
            rejected.append(object_rejection(index, ref, excluded[index]))
            continue
        if landing_bucket is not None and ref.bucket != landing_bucket:
            reason = f"not in the landing bucket {landing_bucket}; only landed objects are bundled"
            rejected.append(object_rejection(index, ref, reason))
            continue
        try:
            stored = source.open(ref)
        except ObjectUnavailableError as error:
            rejected.append(object_rejection(index, ref, str(error)))
            continue
        bad_lines = BadLines()
        try:
            writer.add_object(
                stored.chunks(),
                name=ref.key,
                content_encoding=stored.content_encoding,
                bad_lines=bad_lines,
                reencode=index in reencoded,
            )
        except UnusableObjectError as error:
            # Bad lines in gzip: build again with this object's lines judged one by one (its
            # stream is spent, and some of its members may already be in the upload).
            reencode = isinstance(error, BadLinesInGzipError)
            if error.contaminated or reencode:
                raise _PartlyWrittenObjectError(index, error.reason, reencode=reencode) from error
            rejected.append(object_rejection(index, ref, error.reason))
            continue
        finally:
            stored.close()
        if bad_lines.count:
            rejected.append(bad_lines_rejection(index, ref, bad_lines))
    return rejected
