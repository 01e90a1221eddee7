"""SQS messages, written through: sends, receives (the receive count and visibility), deletes,
visibility changes, purges and moves to a dead-letter queue are journaled before the answer.

Each backend operation is a unit of work; the queue reports messages added to it, a receive
the messages it handed out, a delete or visibility change the message its receipt handle names.
At the end each touched message is journaled as it now is, in whichever touched queue holds it
(a move to the dead-letter queue re-homes the row), or deleted when none does.
"""

from __future__ import annotations

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
CREATE TABLE IF NOT EXISTS sqs_messages (
    account    TEXT NOT NULL,
    message_id TEXT NOT NULL,
    region     TEXT NOT NULL,
    queue_name TEXT NOT NULL,
    message    TEXT NOT NULL,
    PRIMARY KEY (account, message_id)
);
"""
_CONCERN = "sqs"
_OPERATIONS = (
    "send_message",
    "send_message_batch",
    "receive_message",
    "delete_message",
    "delete_message_batch",
    "change_message_visibility",
    "change_message_visibility_batch",
    "purge_queue",
)
# Plain attributes of moto's Message that make up its state (the rest derives from them).
_FIELDS = (
    "message_attributes",
    "sender_id",
    "sent_timestamp",
    "approximate_first_receive_timestamp",
    "approximate_receive_count",
    "deduplication_id",
    "group_id",
    "sequence_number",
    "visible_at",
    "delayed_until",
    "receipt_handle",
)
_log = logging.getLogger(__name__)
# Reading a message's state and submitting it happen together, so commits keep their order.
_staging = threading.Lock()

_MessageRef = tuple[str, str, str, str]  # account, region, queue, message id


def _touch_added(original: Any) -> Any:
    def add_message(self: Any, message: Any) -> None:
        work.touch(_CONCERN, (self.account_id, self.region, self.name, message.id))
        original(self, message)

    return add_message


def _touch_received(original: Any) -> Any:
    def receive_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
        messages = original(self, queue_name, *args, **kwargs)
        for message in messages:
            work.touch(_CONCERN, (self.account_id, self.region_name, queue_name, message.id))
        return messages

    return receive_message


def _touch_handled(original: Any) -> Any:
    # The receipt handle names the message; find it before moto deletes or changes it.
    # moto's responses pass both by keyword (ChangeMessageVisibility), or by position.
    def by_receipt_handle(
        self: Any, queue_name: str, receipt_handle: str, *a: Any, **k: Any
    ) -> Any:
        queue = self.get_queue(queue_name)
        for message in list(queue._messages):
            if message.had_receipt_handle(receipt_handle):
                work.touch(_CONCERN, (self.account_id, self.region_name, queue_name, message.id))
        return original(self, queue_name, receipt_handle, *a, **k)

    return by_receipt_handle


def _touch_purged(original: Any) -> Any:
    def purge_queue(self: Any, queue_name: str) -> None:
        for message in list(self.get_queue(queue_name)._messages):
            work.touch(_CONCERN, (self.account_id, self.region_name, queue_name, message.id))
        original(self, queue_name)

    return purge_queue


def _state(message: Any) -> dict[str, Any]:
    state = {name: getattr(message, name) for name in _FIELDS}
    state["body"] = message.body
    state["system_attributes"] = message.system_attributes
    state["old_receipt_handles"] = list(message._old_receipt_handles)
    return state


def _stage(refs: set[Any]) -> list[Ticket]:
    sqs_backends = moto("moto.sqs.models").sqs_backends
    by_account: dict[str, list[Statement]] = defaultdict(list)
    with _staging:
        holders: dict[tuple[str, str], dict[str, tuple[str, Any]]] = defaultdict(dict)
        for account, region, queue_name in {ref[:3] for ref in refs}:
            queue = sqs_backends[account][region].queues.get(queue_name)
            for message in list(queue._messages) if queue is not None else ():
                holders[(account, region)][message.id] = (queue_name, message)
        for account, region, _, message_id in refs:
            held = holders[(account, region)].get(message_id)
            if held is None:
                by_account[account].append(
                    (
                        "DELETE FROM sqs_messages WHERE account = ? AND message_id = ?",
                        (account, message_id),
                    )
                )
                continue
            queue_name, message = held
            by_account[account].append(
                (
                    "INSERT INTO sqs_messages VALUES (?,?,?,?,?) ON CONFLICT (account, message_id)"
                    " DO UPDATE SET region = excluded.region, queue_name = excluded.queue_name,"
                    " message = excluded.message",
                    (account, message_id, region, queue_name, encode(_state(message))),
                )
            )
        return submit(by_account)


def install() -> None:
    models = moto("moto.sqs.models")
    Backend = models.SQSBackend
    models.Queue.add_message = _touch_added(models.Queue.add_message)
    Backend.receive_message = _touch_received(Backend.receive_message)
    Backend.delete_message = _touch_handled(Backend.delete_message)
    Backend.change_message_visibility = _touch_handled(Backend.change_message_visibility)
    Backend.purge_queue = _touch_purged(Backend.purge_queue)
    for name in _OPERATIONS:
        setattr(Backend, name, work.journaled(getattr(Backend, name)))
    work.register_stager(_CONCERN, _stage)


def _message(message_id: str, state: dict[str, Any]) -> Any:
    Message = moto("moto.sqs.models").Message
    message = Message(message_id, state["body"], state["system_attributes"])
    for name in _FIELDS:
        setattr(message, name, state[name])
    message._old_receipt_handles = list(state["old_receipt_handles"])
    return message


def restore(journal: Journal, account: str) -> int:
    """Put the journaled messages back into their queues, in the order they were sent."""
    sqs_backends = moto("moto.sqs.models").sqs_backends
    reloaded = Reloaded("queue", "messages")
    rows = journal.query(
        "SELECT message_id, region, queue_name, message FROM sqs_messages WHERE account = ?"
        " ORDER BY rowid",
        (account,),
    )
    for message_id, region, queue_name, state in rows:
        queue = sqs_backends[account][region].queues.get(queue_name)
        if queue is None:
            reloaded.missing[queue_name] += 1
            continue
        message = _message(message_id, decode(state))
        queue._messages.append(message)
        if message.approximate_receive_count and not message.visible:
            queue.pending_messages.add(message)
        reloaded.count += 1
    return reloaded.report()
