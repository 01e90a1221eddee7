"""Patch 3: DynamoDB writes are serialised, so conditional writes are atomic (stock moto lets
two racing writers both pass the same condition; dedupe and the breaker's single probe rely on
it)."""

from __future__ import annotations

import functools
import threading
from typing import Any

from local.moto_patches.patch_context import moto_module

DYNAMODB_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)


_dynamodb_write_lock = threading.RLock()


def patch_dynamodb_atomic_writes() -> None:
    DynamoDBBackend = moto_module("moto.dynamodb.models").DynamoDBBackend

    for method_name in DYNAMODB_WRITES:
        original = getattr(DynamoDBBackend, method_name)

        def serialised(*args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _dynamodb_write_lock:
                return __original(*args, **kwargs)

        functools.update_wrapper(serialised, original)
        setattr(DynamoDBBackend, method_name, serialised)
