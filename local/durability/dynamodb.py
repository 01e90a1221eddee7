"""DynamoDB items, written through: a write answers once the items it left are journaled.

Every write entry point of moto's backend (and the BatchWriteItem handler, which moto runs item
by item) is a unit of work; moto's tables report each key they put or delete, an update names
its key, and at the end the item now under each touched key, or its absence, is journaled.
Reading the result rather than the request is what makes conditions, transactions that roll
back and PartiQL come out right.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import defaultdict
from typing import Any

from local.durability import work
from local.durability.accounts import submit
from local.durability.codec import decode, encode
from local.durability.journal import Journal, Statement, Ticket
from local.durability.moto_access import moto
from local.durability.reloaded import Reloaded

__all__ = ["SCHEMA", "install", "restore"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS dynamodb_items (
    account    TEXT NOT NULL,
    region     TEXT NOT NULL,
    table_name TEXT NOT NULL,
    item_key   TEXT NOT NULL,
    item       TEXT NOT NULL,
    PRIMARY KEY (account, region, table_name, item_key)
);
"""
_CONCERN = "dynamodb"
_BACKEND_WRITES = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)
_log = logging.getLogger(__name__)
# Held across a write and the reading of what it left, so no other write slips in between.
_writes = threading.RLock()

_ItemRef = tuple[str, str, str, str]  # account, region, table, key as sorted JSON


def _ref(table: Any, key: dict[str, Any]) -> _ItemRef:
    return (table.account_id, table.region_name, table.name, json.dumps(key, sort_keys=True))


def _key_of(table: Any, attributes: dict[str, Any]) -> dict[str, Any]:
    key = {table.hash_key_attr: attributes[table.hash_key_attr]}
    if table.range_key_attr is not None and table.range_key_attr in attributes:
        key[table.range_key_attr] = attributes[table.range_key_attr]
    return key


def _touch_put(original: Any) -> Any:
    def put_item(self: Any, item_attrs: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if self.hash_key_attr in item_attrs:
            work.touch(_CONCERN, _ref(self, _key_of(self, item_attrs)))
        return original(self, item_attrs, *args, **kwargs)

    return put_item


def _touch_delete(original: Any) -> Any:
    def delete_item(self: Any, hash_key: Any, range_key: Any) -> Any:
        key = {self.hash_key_attr: hash_key.to_json()}
        if range_key is not None and self.range_key_attr is not None:
            key[self.range_key_attr] = range_key.to_json()
        work.touch(_CONCERN, _ref(self, key))
        return original(self, hash_key, range_key)

    return delete_item


def _touch_update(original: Any) -> Any:
    # An update changes an existing item in place, past the table's put and delete.
    def update_item(self: Any, table_name: str, key: dict[str, Any], *args: Any, **kw: Any) -> Any:
        table = self.tables.get(table_name)
        if table is not None and isinstance(key, dict) and table.hash_key_attr in key:
            work.touch(_CONCERN, _ref(table, _key_of(table, key)))
        return original(self, table_name, key, *args, **kw)

    return update_item


def _current_item(ref: _ItemRef) -> dict[str, Any] | None:
    account, region, table_name, key_json = ref
    DynamoType = moto("moto.dynamodb.models.dynamo_type").DynamoType
    table = moto("moto.dynamodb.models").dynamodb_backends[account][region].tables.get(table_name)
    if table is None:
        return None
    key = json.loads(key_json)
    range_value = key.get(table.range_key_attr) if table.range_key_attr else None
    item = table.get_item(
        DynamoType(key[table.hash_key_attr]),
        DynamoType(range_value) if range_value is not None else None,
    )
    if item is None:
        return None
    attributes: dict[str, Any] = item.to_json()["Attributes"]
    return attributes


def _stage(refs: set[Any]) -> list[Ticket]:
    by_account: dict[str, list[Statement]] = defaultdict(list)
    for ref in refs:
        account, region, table_name, key_json = ref
        item = _current_item(ref)
        where = (account, region, table_name, key_json)
        if item is None:
            by_account[account].append(
                (
                    "DELETE FROM dynamodb_items WHERE account = ? AND region = ?"
                    " AND table_name = ? AND item_key = ?",
                    where,
                )
            )
        else:
            by_account[account].append(
                ("INSERT OR REPLACE INTO dynamodb_items VALUES (?,?,?,?,?)", (*where, encode(item)))
            )
    return submit(by_account)


def install() -> None:
    models = moto("moto.dynamodb.models")
    Table = moto("moto.dynamodb.models.table").Table
    DynamoHandler = moto("moto.dynamodb.responses").DynamoHandler
    Table.put_item = _touch_put(Table.put_item)
    Table.delete_item = _touch_delete(Table.delete_item)
    Backend = models.DynamoDBBackend
    Backend.update_item = _touch_update(Backend.update_item)
    for name in _BACKEND_WRITES:
        setattr(Backend, name, work.journaled(getattr(Backend, name), guard=lambda: _writes))
    DynamoHandler.batch_write_item = work.journaled(
        DynamoHandler.batch_write_item, guard=lambda: _writes
    )
    work.register_stager(_CONCERN, _stage)


def restore(journal: Journal, account: str) -> int:
    """Put the journaled items back into the (freshly provisioned) tables; returns how many."""
    backends = moto("moto.dynamodb.models").dynamodb_backends
    reloaded = Reloaded("table", "items")
    rows = journal.query(
        "SELECT region, table_name, item FROM dynamodb_items WHERE account = ?", (account,)
    )
    for region, table_name, item in rows:
        table = backends[account][region].tables.get(table_name)
        if table is None:
            reloaded.missing[table_name] += 1
            continue
        table.put_item(decode(item), overwrite=True)
        reloaded.count += 1
    return reloaded.report()
