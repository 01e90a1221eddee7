"""S3 objects, written through: a put, a completed multipart upload, a copy, a tagging or a
delete answers once the key's versions are journaled and their bytes are on disk.

Every object and bucket request is a unit of work (moto sets an object's metadata after it
stores it, so the request, not the store, is the unit); moto's backend reports each key it
puts, tags or deletes, and at the end the key's versions (objects and delete markers) are
journaled. Bytes go to content-addressed files written by atomic rename before the row that
names them commits; files no row names any more are swept at the next start.

Event notifications wait until the object is journaled: a notification never announces an
object that a crash could take back.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

from local.durability import work
from local.durability.accounts import journal_for, submit
from local.durability.codec import decode, encode
from local.durability.journal import Journal, Statement, Ticket
from local.durability.moto_access import moto
from local.durability.reloaded import Reloaded

__all__ = ["SCHEMA", "install", "objects_dir", "restore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS s3_keys (
    account     TEXT NOT NULL,
    partition   TEXT NOT NULL,
    bucket_name TEXT NOT NULL,
    key_name    TEXT NOT NULL,
    versions    TEXT NOT NULL,
    PRIMARY KEY (account, partition, bucket_name, key_name)
);
"""
_CONCERN = "s3"
_BACKEND_WRITES = (
    "put_object",
    "complete_multipart_upload",
    "copy_object",
    "delete_object",
    "delete_objects",
    "put_object_tagging",
)
# FakeKey attributes kept as they are (constructor arguments and plain fields alike).
_KEY_FIELDS = (
    "encryption",
    "kms_key_id",
    "bucket_key_enabled",
    "lock_mode",
    "lock_legal_status",
    "lock_until",
    "checksum_value",
    "checksum_type",
    "checksum_algorithm",
    "website_redirect_location",
)
_DIGEST_ATTRIBUTE = "_stepflow_sha256"
_log = logging.getLogger(__name__)
_staging = threading.Lock()

_KeyRef = tuple[str, str, str, str]  # account, partition, bucket, key


def objects_dir(journal: Journal) -> Path:
    """Where ``journal``'s object bytes live, one file per distinct content."""
    return journal.path.parent / "objects"


def _touch_key(original: Any) -> Any:
    def write(self: Any, bucket_name: str, key_name: str, *args: Any, **kwargs: Any) -> Any:
        work.touch(_CONCERN, (self.account_id, self.partition, bucket_name, key_name))
        return original(self, bucket_name, key_name, *args, **kwargs)

    return write


def _touch_tagged(original: Any) -> Any:
    def put_object_tagging(self: Any, key: Any, *args: Any, **kwargs: Any) -> Any:
        work.touch(_CONCERN, (self.account_id, self.partition, key.bucket_name, key.name))
        return original(self, key, *args, **kwargs)

    return put_object_tagging


def _deferred(original: Any) -> Any:
    def send_event(*args: Any, **kwargs: Any) -> None:
        unit = work.current()
        if unit is None:
            original(*args, **kwargs)
        else:
            unit.after_commit(lambda: original(*args, **kwargs))

    return send_event


def _stored_blob(directory: Path, key: Any) -> str:
    """The sha256 naming ``key``'s bytes, written to ``directory`` first if new."""
    cached: tuple[int, str] | None = getattr(key, _DIGEST_ATTRIBUTE, None)
    if cached is not None and cached[0] == key.contentsize:
        return cached[1]
    value: bytes = key.value
    digest = hashlib.sha256(value).hexdigest()
    path = directory / digest[:2] / digest
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{digest}.{threading.get_ident()}.tmp")
        partial.write_bytes(value)
        os.replace(partial, path)
    setattr(key, _DIGEST_ATTRIBUTE, (key.contentsize, digest))
    return digest


def _version_state(directory: Path, backend: Any, version: Any) -> dict[str, Any]:
    state: dict[str, Any] = {
        "versionId": version._version_id,
        "lastModified": version.last_modified,
    }
    if type(version).__name__ == "FakeDeleteMarker":
        return state | {"deleteMarker": True}
    return state | {
        "sha256": _stored_blob(directory, version),
        "storageClass": version._storage_class,
        "etag": version._etag,
        "metadata": dict(version.metadata),
        "tags": backend.tagger.get_tag_dict_for_resource(version.arn),
        **{name: getattr(version, name, None) for name in _KEY_FIELDS},
    }


def _stage(refs: set[Any]) -> list[Ticket]:
    s3_backends = moto("moto.s3.models").s3_backends
    by_account: dict[str, list[Statement]] = defaultdict(list)
    with _staging:
        for account, partition, bucket_name, key_name in refs:
            journal = journal_for(account)
            if journal is None:
                continue
            backend = s3_backends[account][partition]
            bucket = backend.buckets.get(bucket_name)
            versions = list(bucket.keys.getlist(key_name, [])) if bucket is not None else []
            where = (account, partition, bucket_name, key_name)
            if not versions:
                by_account[account].append(
                    (
                        "DELETE FROM s3_keys WHERE account = ? AND partition = ?"
                        " AND bucket_name = ? AND key_name = ?",
                        where,
                    )
                )
                continue
            directory = objects_dir(journal)
            states = [_version_state(directory, backend, version) for version in versions]
            by_account[account].append(
                ("INSERT OR REPLACE INTO s3_keys VALUES (?,?,?,?,?)", (*where, encode(states)))
            )
        return submit(by_account)


def install() -> None:
    Backend = moto("moto.s3.models").S3Backend
    S3Response = moto("moto.s3.responses").S3Response
    notifications = moto("moto.s3.notifications")
    for name in ("put_object", "delete_object"):
        setattr(Backend, name, _touch_key(getattr(Backend, name)))
    Backend.put_object_tagging = _touch_tagged(Backend.put_object_tagging)
    for name in _BACKEND_WRITES:
        setattr(Backend, name, work.journaled(getattr(Backend, name)))
    for name in ("_key_response", "_bucket_response"):
        setattr(S3Response, name, work.journaled(getattr(S3Response, name)))
    notifications.send_event = _deferred(notifications.send_event)
    work.register_stager(_CONCERN, _stage)


def _restored_versions(
    directory: Path, backend: Any, bucket: Any, key_name: str, states: list[dict[str, Any]]
) -> list[Any]:
    models = moto("moto.s3.models")
    versions: list[Any] = []
    for state in states:
        if state.get("deleteMarker"):
            shadowed = (
                versions[-1]
                if versions
                else models.FakeKey(
                    key_name, b"", backend.account_id, backend.region_name, bucket_name=bucket.name
                )
            )
            marker = models.FakeDeleteMarker(shadowed)
            marker._version_id = state["versionId"]
            marker.last_modified = state["lastModified"]
            versions.append(marker)
            continue
        sha256 = state["sha256"]
        key = models.FakeKey(
            name=key_name,
            value=(directory / sha256[:2] / sha256).read_bytes(),
            account_id=backend.account_id,
            region_name=backend.region_name,
            storage=state["storageClass"],
            etag=state["etag"],
            is_versioned=bucket.is_versioned,
            version_id=state["versionId"],
            bucket_name=bucket.name,
        )
        for name in _KEY_FIELDS:
            setattr(key, name, state.get(name))
        key.set_metadata(dict(state["metadata"]))
        key.last_modified = state["lastModified"]
        if state["tags"]:
            backend.tagger.tag_resource(
                key.arn, [{"Key": k, "Value": v} for k, v in state["tags"].items()]
            )
        setattr(key, _DIGEST_ATTRIBUTE, (key.contentsize, sha256))
        versions.append(key)
    return versions


def restore(journal: Journal, account: str) -> int:
    """Put the journaled objects back into their buckets; sweep bytes no row names."""
    s3_backends = moto("moto.s3.models").s3_backends
    directory = objects_dir(journal)
    named: set[str] = set()
    reloaded = Reloaded("bucket", "keys")
    rows = journal.query(
        "SELECT partition, bucket_name, key_name, versions FROM s3_keys WHERE account = ?",
        (account,),
    )
    for partition, bucket_name, key_name, encoded in rows:
        states: list[dict[str, Any]] = decode(encoded)
        named.update(state["sha256"] for state in states if "sha256" in state)
        backend = s3_backends[account][partition]
        bucket = backend.buckets.get(bucket_name)
        if bucket is None:
            reloaded.missing[bucket_name] += 1
            continue
        versions = _restored_versions(directory, backend, bucket, key_name, states)
        bucket.keys.setlist(key_name, versions)
        reloaded.count += 1
    _sweep(directory, named)
    return reloaded.report()


def _sweep(directory: Path, named: set[str]) -> None:
    # Bytes written for a request whose row never committed, or replaced since.
    if not directory.is_dir():
        return
    for path in directory.glob("*/*"):
        if path.name not in named:
            path.unlink()
