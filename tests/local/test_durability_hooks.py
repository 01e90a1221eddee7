"""Each durability hook journals what its request changed, and a journal that cannot commit
fails the request loudly (an exception and an ERROR log), never silently.

The hooks are process-wide, so each test works in an account of its own, with its own moto
backends, and attaches a journal only to it: the shared test stack's account is untouched.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local import durability
from local.durability import accounts
from local.durability.journal import Journal, JournalError

pytestmark = pytest.mark.local

_REGION = "us-east-1"


@pytest.fixture
def account() -> str:
    durability.install()
    return f"{uuid.uuid4().int % 10**12:012d}"


@pytest.fixture
def broken_journal(tmp_path: Path, account: str) -> Iterator[Journal]:
    """A journal without its tables: every commit fails."""
    journal = Journal(tmp_path / "journal.sqlite3", schemas=[])
    accounts.attach(account, journal)
    yield journal
    accounts.detach(account)
    journal.close()


@pytest.fixture
def journal(tmp_path: Path, account: str) -> Iterator[Journal]:
    journal = Journal(tmp_path / "journal.sqlite3", schemas=durability.SCHEMAS)
    accounts.attach(account, journal)
    yield journal
    accounts.detach(account)
    journal.close()


def _table(account: str) -> tuple[Any, str]:
    from moto.dynamodb.models import dynamodb_backends

    backend = dynamodb_backends[account][_REGION]
    name = "items"
    backend.create_table(
        name,
        schema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        throughput=None,
        attr=[{"AttributeName": "pk", "AttributeType": "S"}],
        global_indexes=None,
        indexes=None,
        streams=None,
        billing_mode="PAY_PER_REQUEST",
        sse_specification=None,
        tags=[],
        deletion_protection_enabled=False,
        warm_throughput=None,
    )
    return backend, name


def _queue(account: str) -> tuple[Any, str]:
    from moto.sqs.models import sqs_backends

    backend = sqs_backends[account][_REGION]
    backend.create_queue("work")
    return backend, "work"


def _bucket(account: str) -> tuple[Any, str]:
    from moto.s3.models import s3_backends

    backend = s3_backends[account]["aws"]
    name = f"durability-{uuid.uuid4().hex[:16]}"
    backend.create_bucket(name, _REGION)
    return backend, name


def _machine(account: str) -> tuple[Any, str]:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    backend = stepfunctions_parser_backends[account][_REGION]
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    machine = backend.create_state_machine(
        name="machine",
        definition=json.dumps(definition),
        roleArn=f"arn:aws:iam::{account}:role/machine",
    )
    return backend, str(machine.arn)


def _assert_loud(caplog: pytest.LogCaptureFixture, write: Any) -> None:
    with caplog.at_level(logging.ERROR), pytest.raises(JournalError):
        write()
    assert any(record.levelno == logging.ERROR for record in caplog.records), caplog.text


def test_a_dynamodb_write_that_cannot_be_journaled_fails(
    account: str, broken_journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    backend, table = _table(account)
    _assert_loud(caplog, lambda: backend.put_item(table, {"pk": {"S": "a"}}))


def test_an_sqs_send_that_cannot_be_journaled_fails(
    account: str, broken_journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    backend, queue = _queue(account)
    _assert_loud(caplog, lambda: backend.send_message(queue, "body"))


def test_an_s3_put_that_cannot_be_journaled_fails(
    account: str, broken_journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    backend, bucket = _bucket(account)
    _assert_loud(caplog, lambda: backend.put_object(bucket, "key", b"bytes"))


def test_an_execution_start_that_cannot_be_journaled_fails(
    account: str, broken_journal: Journal, caplog: pytest.LogCaptureFixture
) -> None:
    backend, machine_arn = _machine(account)
    _assert_loud(caplog, lambda: backend.start_execution(machine_arn, "run-1", "{}"))
    # The execution itself runs on in moto's thread: let it end before the journal closes, so
    # nothing it writes later fails in another test's time.
    accounts.detach(account)
    execution_arn = machine_arn.replace(":stateMachine:", ":execution:") + ":run-1"
    deadline = time.monotonic() + 60
    while _running(backend, execution_arn):
        assert time.monotonic() < deadline, f"{execution_arn} still running"
        time.sleep(0.01)


def _running(backend: Any, execution_arn: str) -> bool:
    for machine in backend.state_machines:
        for execution in machine.executions:
            if execution.exec_arn == execution_arn:
                return execution.stop_date is None
    return False  # archived by the runtime's patches: it has ended


def test_what_a_request_leaves_is_what_is_journaled(account: str, journal: Journal) -> None:
    dynamodb, table = _table(account)
    dynamodb.put_item(table, {"pk": {"S": "a"}, "n": {"N": "1"}})
    dynamodb.put_item(table, {"pk": {"S": "b"}})
    dynamodb.delete_item(table, {"pk": {"S": "b"}})
    items = journal.query("SELECT item FROM dynamodb_items WHERE account = ?", (account,))
    assert [json.loads(item) for (item,) in items] == [{"pk": {"S": "a"}, "n": {"N": "1"}}]

    sqs, queue = _queue(account)
    sqs.send_message(queue, "kept")
    sqs.send_message(queue, "gone")
    received = sqs.receive_message(queue, 10, 0, 30)
    gone = next(message for message in received if message.body == "gone")
    sqs.delete_message(queue, gone.receipt_handle)
    rows = journal.query("SELECT message FROM sqs_messages WHERE account = ?", (account,))
    states = [json.loads(message) for (message,) in rows]
    assert [(s["body"], s["approximate_receive_count"]) for s in states] == [("kept", 1)]

    s3, bucket = _bucket(account)
    s3.put_object(bucket, "key", b"bytes")
    (versions,) = journal.query("SELECT versions FROM s3_keys WHERE bucket_name = ?", (bucket,))[0]
    (stored,) = json.loads(versions)
    blob = journal.path.parent / "objects" / stored["sha256"][:2] / stored["sha256"]
    assert blob.read_bytes() == b"bytes"
