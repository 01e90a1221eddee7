"""What the Lambda API needs from the pool: log tails, EMF documents, and replacing a function's
deployment (code or configuration) while it is warm."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from local.lambdas.pool import FunctionNotFoundError, WorkerConfig
from local.lambdas.worker import LOG_TAIL_BYTES

from .conftest import PoolFactory, body, config, process_state


def test_the_log_tail_is_the_end_of_this_invocations_log(make_pool: PoolFactory) -> None:
    pool = make_pool(config("printing", "printing.chatty"))

    result = pool.invoke("printing", b"{}", request_id="req-tail", log_tail=True)

    tail = result.log_tail.decode()
    assert tail.startswith("START RequestId: req-tail Version: $LATEST\n")
    assert "first line of req-tail" in tail
    assert "through logging" in tail
    assert "on stderr" in tail
    assert tail.rstrip("\n").splitlines()[-1].startswith("REPORT RequestId: req-tail")
    assert pool.invoke("printing", b"{}").log_tail == b""  # only when asked for


def test_a_long_log_is_cut_to_its_last_4_kb(make_pool: PoolFactory) -> None:
    pool = make_pool(config("printing", "printing.chatty"))

    result = pool.invoke("printing", b'{"lines": 500}', request_id="req-long", log_tail=True)

    assert LOG_TAIL_BYTES == 4096
    assert len(result.log_tail) == LOG_TAIL_BYTES
    tail = result.log_tail.decode()
    assert "line 00499" in tail
    assert "first line of req-long" not in tail
    assert "REPORT RequestId: req-long" in tail


def test_emf_documents_go_to_the_metrics_sink(make_pool: PoolFactory) -> None:
    received: list[tuple[str, bytes]] = []
    pool = make_pool(
        config("printing", "printing.emf"),
        metrics_sink=lambda name, documents: received.append((name, documents)),
    )

    pool.invoke("printing", b'{"value": 3}')

    [(name, documents)] = received
    assert name == "printing"
    lines = documents.decode().splitlines()
    assert json.loads(lines[0])["Emitted"] == 3
    assert lines[1] == '{"_aws": looks like EMF, is not JSON}'  # the sink decides what is EMF
    assert len(lines) == 2


def test_put_function_replaces_a_warm_deployment(make_pool: PoolFactory) -> None:
    pool = make_pool(config("printing", "behaviours.pid"))
    old_pid = body(pool.invoke("printing", b"{}"))["pid"]

    pool.put_function(config("printing", "printing.other", environment={"STAGE": "two"}))

    assert body(pool.invoke("printing", b"{}")) == "the other handler"
    assert pool.config("printing").environment == {"STAGE": "two"}
    assert process_state(old_pid) is None  # the idle worker of the old deployment is gone


def test_a_function_can_run_from_its_own_code_root(make_pool: PoolFactory, tmp_path: Path) -> None:
    code = tmp_path / "package"
    code.mkdir()
    (code / "app.py").write_text(
        "import os, sys\n"
        "def handler(event, context):\n"
        "    return {'root': os.environ['LAMBDA_TASK_ROOT'], 'cwd': os.getcwd()}\n"
    )
    pool = make_pool()
    pool.put_function(WorkerConfig("packaged", "app.handler", {}, 5.0, code_root=code))

    answer = body(pool.invoke("packaged", b"{}"))

    assert answer == {"root": str(code), "cwd": str(code)}


def test_a_removed_function_is_not_found(make_pool: PoolFactory) -> None:
    pool = make_pool(config("printing", "printing.other"))
    pool.remove_function("printing")
    with pytest.raises(FunctionNotFoundError):
        pool.invoke("printing", b"{}")
