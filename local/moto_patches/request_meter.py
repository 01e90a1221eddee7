"""Patch 14: every request the AWS endpoint serves is metered, as AWS bills it.

The moto server's WSGI entry point counts each request by service (the credential scope of its
SigV4 signature) and operation (its ``X-Amz-Target``, or for S3 its method and whether it names
an object), with its request and response sizes, so SQS's and Pipes' 64 KiB chunks can be
priced. DynamoDB's capacity units come from moto's own items: a write consumes one unit per KiB
of the item it leaves (or removes), at least one, and a failed condition one; a read one unit
per 4 KiB read (items of a Query or Scan together), at least one, half for an eventually
consistent read; a transactional write two per item. Requests that carry :data:`METER_AGENT` in
their ``User-Agent`` (the meter reading histories) and moto's own ``/moto-api`` are not
counted; ``/moto-api/reset`` (a stack starting) zeroes the counts.

``GET`` :data:`USAGE_PATH` answers the counts as JSON, with what the running stack reports of
its Lambdas, pipes and API (:attr:`PatchContext.usage`), so ``python -m local cost`` in another
process reads them. :func:`metered_usage` is the same in-process.
"""

from __future__ import annotations

import functools
import json
import math
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from local.moto_patches.patch_context import context, moto_module

USAGE_PATH: Final = "/_stepflow/usage"
METER_AGENT: Final = "stepflow-cost-meter"
CHUNK_BYTES: Final = 65_536
_WRITE_UNIT_BYTES: Final = 1_024
_READ_UNIT_BYTES: Final = 4_096
# Backend methods and how each consumes capacity (moto's handlers call them once per item, so
# BatchWriteItem and BatchGetItem are counted item by item).
DYNAMODB_METERED: Final = ("put_item", "update_item", "delete_item", "get_item", "query", "scan")
_CONSISTENT_READ_OPERATIONS: Final = frozenset({"GetItem", "Query", "Scan", "BatchGetItem"})


@dataclass
class _Counts:
    requests: int = 0
    chunks: int = 0
    request_bytes: int = 0
    response_bytes: int = 0


class RequestMeter:
    """The counts since the last reset; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], _Counts] = defaultdict(_Counts)
        self._read_units = 0.0
        self._write_units = 0

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._read_units = 0.0
            self._write_units = 0

    def count_request(
        self, service: str, operation: str, request_bytes: int, response_bytes: int
    ) -> None:
        chunks = max(1, math.ceil(max(request_bytes, response_bytes) / CHUNK_BYTES))
        with self._lock:
            counts = self._requests[(service, operation)]
            counts.requests += 1
            counts.chunks += chunks
            counts.request_bytes += request_bytes
            counts.response_bytes += response_bytes

    def count_capacity(self, *, read_units: float = 0.0, write_units: int = 0) -> None:
        with self._lock:
            self._read_units += read_units
            self._write_units += write_units

    def snapshot(self) -> dict[str, Any]:
        """``requests``: one row per service and operation; ``dynamodb``: capacity units."""
        with self._lock:
            return {
                "requests": [
                    {"service": service, "operation": operation, **vars(counts)}
                    for (service, operation), counts in sorted(self._requests.items())
                ],
                "dynamodb": {"readUnits": self._read_units, "writeUnits": self._write_units},
            }


meter = RequestMeter()
_request = threading.local()


def metered_usage() -> dict[str, Any]:
    """The endpoint's counts and, when a stack is running, its runtime's (``runtime``)."""
    source = context().usage
    return {**meter.snapshot(), "runtime": source() if source is not None else None}


def service_of(environ: dict[str, Any]) -> str | None:
    """The service a SigV4-signed request is for: ``.../<region>/<service>/aws4_request``."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    _, found, scope = authorization.partition("Credential=")
    parts = scope.split(",", 1)[0].split("/")
    return parts[3] if found and len(parts) >= 5 else None


def operation_of(service: str, environ: dict[str, Any]) -> str:
    """``X-Amz-Target``'s operation; for S3 (REST), its method on an ``object`` or a
    ``bucket`` (a path-style URL names the bucket first)."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    if target:
        return target.rsplit(".", 1)[-1]
    method = str(environ.get("REQUEST_METHOD", "GET"))
    if service == "s3":
        path = str(environ.get("PATH_INFO", "")).strip("/")
        return f"{method} {'object' if '/' in path else 'bucket'}"
    return method


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, left readable for moto."""
    import io

    length = int(environ.get("CONTENT_LENGTH") or 0)
    if not length:  # nothing to read, or a stream of unknown length moto must read itself
        return b""
    body: bytes = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _consistent(operation: str, environ: dict[str, Any]) -> bool:
    if operation not in _CONSISTENT_READ_OPERATIONS:
        return False
    try:
        request = json.loads(_read_body(environ) or b"{}")
    except ValueError:
        return False
    if operation == "BatchGetItem":
        tables = request.get("RequestItems", {}).values()
        return any(bool(table.get("ConsistentRead")) for table in tables)
    return bool(request.get("ConsistentRead"))


def _serve_usage(start_response: Callable[..., Any]) -> Iterable[bytes]:
    body = json.dumps(metered_usage()).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _metered_call(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def call(app: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = str(environ.get("PATH_INFO", ""))
        if path == USAGE_PATH:
            return _serve_usage(start_response)
        if path.startswith("/moto-api"):
            if path.startswith("/moto-api/reset"):
                meter.reset()
            return original(app, environ, start_response)
        service = service_of(environ)
        if service is None or METER_AGENT in str(environ.get("HTTP_USER_AGENT", "")):
            return original(app, environ, start_response)
        operation = operation_of(service, environ)
        response_bytes = 0

        def measured_start(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            nonlocal response_bytes
            length = next((v for k, v in headers if k.lower() == "content-length"), "0")
            response_bytes = int(length or 0)
            return start_response(status, headers, *rest)

        _request.consistent = service == "dynamodb" and _consistent(operation, environ)
        _request.depth = 0
        _request.metered = True
        try:
            return original(app, environ, measured_start)
        finally:
            _request.metered = False
            request_bytes = int(environ.get("CONTENT_LENGTH") or 0)
            meter.count_request(service, operation, request_bytes, response_bytes)

    return call


def _units(size: int, unit_bytes: int) -> int:
    return max(1, math.ceil(size / unit_bytes))


def _consumed(method_name: str, result: Any) -> tuple[float, int]:
    """(read units, write units) of a backend call that returned ``result``."""
    if method_name in ("put_item", "update_item", "delete_item"):
        return 0.0, _units(result.size() if result is not None else 0, _WRITE_UNIT_BYTES)
    # get_item answers an item or None; query and scan (items, scanned count, last key).
    items = [result] if method_name == "get_item" else list(result[0])
    items = [item for item in items if item is not None]
    units = _units(sum(item.size() for item in items), _READ_UNIT_BYTES)
    return (float(units) if getattr(_request, "consistent", False) else units / 2), 0


def _metered_capacity(method_name: str, original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def metered(*args: Any, **kwargs: Any) -> Any:
        # Only the outermost call of a metered request counts: restores and internal reads
        # are not requests, and a backend method calling another is one request.
        if not getattr(_request, "metered", False) or _request.depth:
            return original(*args, **kwargs)
        _request.depth += 1
        try:
            result = original(*args, **kwargs)
        except Exception:
            if method_name in ("put_item", "update_item", "delete_item"):
                meter.count_capacity(write_units=1)  # a failed condition still writes
            raise
        finally:
            _request.depth -= 1
        read_units, write_units = _consumed(method_name, result)
        meter.count_capacity(read_units=read_units, write_units=write_units)
        return result

    return metered


def _metered_transaction(original: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(original)
    def metered(backend: Any, transact_items: list[dict[str, Any]], *args: Any) -> Any:
        if not getattr(_request, "metered", False) or _request.depth:
            return original(backend, transact_items, *args)
        _request.depth += 1
        try:
            return original(backend, transact_items, *args)
        finally:
            _request.depth -= 1
            meter.count_capacity(write_units=2 * len(transact_items))

    return metered


def patch_request_meter() -> None:
    dispatcher = moto_module("moto.moto_server.werkzeug_app").DomainDispatcherApplication
    dispatcher.__call__ = _metered_call(dispatcher.__call__)
    backend = moto_module("moto.dynamodb.models").DynamoDBBackend
    for method_name in DYNAMODB_METERED:
        setattr(backend, method_name, _metered_capacity(method_name, getattr(backend, method_name)))
    backend.transact_write_items = _metered_transaction(backend.transact_write_items)
