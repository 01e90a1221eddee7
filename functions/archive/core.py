"""Keep a staged bundle in the archive under a key derived from its content; no I/O but the port.

The key is ``bundles/{sha256[0:2]}/{sha256}.ndjson.gz``: the same content always lands on the
same key (two-character prefixes spread keys for listing), so archiving is idempotent by
construction. An object already there whose ``sha256`` metadata and size match is left alone
(``created: false``); anything else at that key (a half-written or foreign object) is replaced,
and the archive bucket's versioning keeps what was there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Protocol
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from functions._shared.errors import InvalidEnvelopeError
from functions._shared.models import NonBlankName, TrackingId, json_payload

ARCHIVE_PREFIX: Final = "bundles"
BUNDLE_SUFFIX: Final = ".ndjson.gz"
# S3 caps all user metadata of an object at 2 KB; the status record keeps the full values.
MAX_METADATA_VALUE: Final = 512

_KEEP_EXTRA_KEYS = ConfigDict(extra="allow", serialize_by_alias=True)

Sha256Hex = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class BundleRef(BaseModel):
    """The ``bundle`` that bundle returned: where it is staged and what it holds."""

    model_config = _KEEP_EXTRA_KEYS

    bucket: NonBlankName
    key: str = Field(min_length=1)
    size: Annotated[int, Field(ge=0)]
    sha256: Sha256Hex
    count: Annotated[int, Field(ge=0)]


class ArchiveEnvelope(BaseModel):
    """archive's input: any envelope with a ``bundle``; other keys pass through untouched."""

    model_config = _KEEP_EXTRA_KEYS

    tracking_id: TrackingId = Field(alias="trackingId")
    source: str = "unknown"
    bundle: BundleRef


@dataclass(frozen=True)
class ObjectHead:
    """What ``HeadObject`` tells about a stored object (metadata keys in lower case)."""

    size: int
    etag: str
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class CopyRequest:
    """A server-side copy of ``source_bucket/source_key`` (only while its ETag is unchanged)."""

    source_bucket: str
    source_key: str
    source_etag: str
    bucket: str
    key: str
    size: int
    metadata: Mapping[str, str]


class ArchiveStore(Protocol):
    def head(self, bucket: str, key: str) -> ObjectHead | None:
        """The object's head, or ``None`` when there is no such key."""
        ...

    def copy(self, request: CopyRequest) -> None: ...


@dataclass(frozen=True)
class ArchiveOutcome:
    payload: dict[str, Any]
    key: str
    created: bool


def archive_key(sha256: str) -> str:
    """The archive key of a bundle with this SHA-256 (hex of its gzip bytes).

    >>> archive_key("ab" + "0" * 62)
    'bundles/ab/ab00000000000000000000000000000000000000000000000000000000000000.ndjson.gz'
    """
    return f"{ARCHIVE_PREFIX}/{sha256[:2]}/{sha256}{BUNDLE_SUFFIX}"


def metadata_value(text: str) -> str:
    """``text`` as S3 user metadata can carry it: printable ASCII as is, else percent-encoded.

    S3 sends metadata as HTTP headers, which hold ASCII only; long values are cut to
    :data:`MAX_METADATA_VALUE` characters.

    >>> metadata_value("trk-20240302-7f3c9a")
    'trk-20240302-7f3c9a'
    >>> metadata_value("trk-é")
    'trk-%C3%A9'
    """
    if not (text.isascii() and text.isprintable()):
        text = quote(text, safe="")
    return text[:MAX_METADATA_VALUE]


def archive_metadata(envelope: ArchiveEnvelope) -> dict[str, str]:
    """The user metadata of an archived bundle: ``count``, ``sha256``, ``source``, ``tracking-id``.

    >>> bundle = {"bucket": "s", "key": "k", "size": 1, "sha256": "a" * 64, "count": 4}
    >>> env = ArchiveEnvelope.model_validate({"trackingId": "trk-1", "bundle": bundle})
    >>> archive_metadata(env)["tracking-id"], archive_metadata(env)["count"]
    ('trk-1', '4')
    """
    return {
        "count": str(envelope.bundle.count),
        "sha256": envelope.bundle.sha256,
        "source": metadata_value(envelope.source),
        "tracking-id": metadata_value(envelope.tracking_id),
    }


def is_archived(existing: ObjectHead | None, bundle: BundleRef) -> bool:
    """Whether the object at the archive key already is this bundle.

    >>> bundle = BundleRef(bucket="s", key="k", size=10, sha256="a" * 64, count=1)
    >>> is_archived(ObjectHead(10, '"e"', {"sha256": "a" * 64}), bundle)
    True
    >>> is_archived(ObjectHead(10, '"e"', {}), bundle), is_archived(None, bundle)
    (False, False)
    """
    return (
        existing is not None
        and existing.metadata.get("sha256") == bundle.sha256
        and existing.size == bundle.size
    )


def archive_bundle(
    envelope: ArchiveEnvelope,
    store: ArchiveStore,
    *,
    archive_bucket: str,
    staging_bucket: str | None = None,
) -> ArchiveOutcome:
    """Copy the staged bundle to its content key unless it is there; the envelope gains
    ``archive`` = ``{"bucket", "key", "created"}``.

    Raises :class:`InvalidEnvelopeError` when the bundle is outside ``staging_bucket`` (when
    given), no longer staged, or not the size the envelope says: none of that gets better on
    a retry.

    Example::

        outcome = archive_bundle(envelope, S3ArchiveStore(), archive_bucket="stepflow-dev-archive")
        outcome.payload["archive"]  # {"bucket": ..., "key": "bundles/ab/ab12....ndjson.gz", ...}
    """
    bundle = envelope.bundle
    key = archive_key(bundle.sha256)
    if staging_bucket is not None and bundle.bucket != staging_bucket:
        raise InvalidEnvelopeError(
            f"bundle.bucket is {bundle.bucket}; archive copies from {staging_bucket} only"
        )
    created = not is_archived(store.head(archive_bucket, key), bundle)
    if created:
        staged = store.head(bundle.bucket, bundle.key)
        if staged is None:
            raise InvalidEnvelopeError(
                f"bundle s3://{bundle.bucket}/{bundle.key} is not staged (any more) and not "
                "archived yet; bundle the envelope again"
            )
        if staged.size != bundle.size:
            raise InvalidEnvelopeError(
                f"bundle s3://{bundle.bucket}/{bundle.key} holds {staged.size} bytes, the "
                f"envelope says {bundle.size}"
            )
        store.copy(
            CopyRequest(
                source_bucket=bundle.bucket,
                source_key=bundle.key,
                source_etag=staged.etag,
                bucket=archive_bucket,
                key=key,
                size=bundle.size,
                metadata=archive_metadata(envelope),
            )
        )
    payload = json_payload(envelope, passthrough=frozenset({"events", "rejected"}))
    payload["archive"] = {"bucket": archive_bucket, "key": key, "created": created}
    return ArchiveOutcome(payload=payload, key=key, created=created)
