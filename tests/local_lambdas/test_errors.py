"""Failures in Lambda's shapes: handler exceptions, INIT errors, marshalling, crashes, timeouts."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from .conftest import PoolFactory, assert_reaped, body, config, process_state, wait_until


def test_handler_exception_is_reported_by_class_name_and_the_worker_survives(
    make_pool: PoolFactory,
) -> None:
    pool = make_pool(config("deliver", "behaviours.fail"))

    first = pool.invoke("deliver", b'{"order_id": "o-7"}', request_id="req-err")
    second = pool.invoke("deliver", b'{"order_id": "o-8"}')

    assert first.function_error == "Unhandled"
    error = body(first)
    assert list(error) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert error["errorType"] == "TransientDeliveryError"
    assert error["errorMessage"] == "carrier unavailable for o-7"
    assert error["requestId"] == "req-err"
    assert all(isinstance(line, str) for line in error["stackTrace"])
    # The trace starts in the function's code: the runtime's own frames are dropped, as on AWS.
    assert "behaviours.py" in error["stackTrace"][0]
    assert not any("worker.py" in line for line in error["stackTrace"])
    assert not any("^" in line for line in error["stackTrace"])
    assert not second.cold_start
    assert body(second)["errorMessage"] == "carrier unavailable for o-8"
    stats = pool.stats()["deliver"]
    assert (stats["workers"], stats["cold_starts"], stats["errors"]) == (1, 1, 2)
    assert "[ERROR] TransientDeliveryError: carrier unavailable for o-7" in (
        pool.log_path("deliver").read_text()
    )


def test_import_error_at_init_is_runtime_import_module_error(make_pool: PoolFactory) -> None:
    pool = make_pool(config("broken", "broken_import.handler"))

    first = pool.invoke("broken", b"{}")
    second = pool.invoke("broken", b"{}")

    assert first.function_error == "Unhandled"
    assert first.cold_start
    assert body(first) == {
        "errorMessage": (
            "Unable to import module 'broken_import': No module named 'does_not_exist_stepflow'"
        ),
        "errorType": "Runtime.ImportModuleError",
        "requestId": "",
        "stackTrace": [],
    }
    # Like Lambda, a failed INIT leaves no environment behind: the next invocation tries again.
    assert body(second) == body(first)
    stats = pool.stats()["broken"]
    assert (stats["workers"], stats["cold_starts"], stats["errors"]) == (0, 2, 2)


def test_warm_start_survives_a_function_whose_init_fails(make_pool: PoolFactory) -> None:
    pool = make_pool(config("broken", "broken_import.handler"), config("ok", "echo.quiet"))

    pool.start(warm=True)

    assert pool.stats()["broken"]["workers"] == 0
    assert pool.stats()["ok"]["workers"] == 1
    assert body(pool.invoke("broken", b"{}"))["errorType"] == "Runtime.ImportModuleError"


def test_exception_raised_at_import_is_reported_by_its_class(make_pool: PoolFactory) -> None:
    pool = make_pool(config("init", "init_raises.handler"))

    error = body(pool.invoke("init", b"{}"))

    assert error["errorType"] == "ConfigurationError"
    assert error["errorMessage"] == "TABLE_NAME is not set"
    assert any("init_raises.py" in line for line in error["stackTrace"])


def test_missing_handler_function_is_runtime_handler_not_found(make_pool: PoolFactory) -> None:
    pool = make_pool(config("missing", "echo.nowhere"))

    error = body(pool.invoke("missing", b"{}"))

    assert error["errorType"] == "Runtime.HandlerNotFound"
    assert error["errorMessage"] == "Handler 'nowhere' missing on module 'echo'"


def test_unserialisable_result_is_runtime_marshal_error(make_pool: PoolFactory) -> None:
    pool = make_pool(config("sets", "behaviours.not_serialisable"))

    first = pool.invoke("sets", b"{}")
    second = pool.invoke("sets", b"{}")

    assert first.function_error == "Unhandled"
    error = body(first)
    assert error["errorType"] == "Runtime.MarshalError"
    assert error["errorMessage"] == (
        "Unable to marshal response: Object of type set is not JSON serializable"
    )
    assert not second.cold_start


def test_invalid_json_payload_is_runtime_unmarshal_error(make_pool: PoolFactory) -> None:
    pool = make_pool(config("echo", "echo.quiet"))

    result = pool.invoke("echo", b"{not json")

    assert result.function_error == "Unhandled"
    assert body(result)["errorType"] == "Runtime.UnmarshalError"


def test_response_over_the_limit_is_function_response_size_too_large(
    make_pool: PoolFactory,
) -> None:
    pool = make_pool(config("huge", "behaviours.huge"))

    result = pool.invoke("huge", json.dumps({"size": 6_300_000}).encode())

    assert result.function_error == "Unhandled"
    assert body(result)["errorType"] == "Function.ResponseSizeTooLarge"


def test_worker_exiting_mid_invocation_is_exit_error_and_is_replaced(
    make_pool: PoolFactory,
) -> None:
    pool = make_pool(config("exit", "behaviours.exit_process"))
    old_pid = body(pool.invoke("exit", b"{}"))["pid"]

    crashed = pool.invoke("exit", b'{"exit": 3}', request_id="req-exit")
    after = pool.invoke("exit", b"{}")

    assert crashed.function_error == "Unhandled"
    assert body(crashed) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: req-exit Error: Runtime exited with error: exit status 3",
    }
    assert_reaped(old_pid)
    assert after.function_error is None
    assert after.cold_start
    assert body(after)["pid"] != old_pid


def test_worker_killed_by_a_signal_is_exit_error(make_pool: PoolFactory) -> None:
    pool = make_pool(config("segv", "behaviours.segfault"))

    error = body(pool.invoke("segv", b"{}", request_id="req-segv"))

    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"] == (
        "RequestId: req-segv Error: Runtime exited with error: signal: segmentation fault"
    )


def test_timeout_kills_the_worker_and_the_next_invocation_is_cold(make_pool: PoolFactory) -> None:
    pool = make_pool(config("slow", "behaviours.sleep", timeout=0.5))
    old_pid = body(pool.invoke("slow", b'{"seconds": 0}'))["pid"]

    timed_out = pool.invoke("slow", b'{"seconds": 30}', request_id="req-slow")
    after = pool.invoke("slow", b'{"seconds": 0}')

    assert timed_out.function_error == "Unhandled"
    assert body(timed_out) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: req-slow Error: Task timed out after 0.50 seconds",
    }
    assert_reaped(old_pid)
    assert after.function_error is None
    assert after.cold_start
    assert body(after)["pid"] != old_pid
    stats = pool.stats()["slow"]
    assert (stats["timeouts"], stats["errors"], stats["workers"]) == (1, 1, 1)


def test_timeout_also_kills_processes_the_handler_started(
    make_pool: PoolFactory, tmp_path: Path
) -> None:
    pool = make_pool(config("spawner", "behaviours.spawn_and_hang", timeout=1))
    pid_file = tmp_path / "grandchild.pid"

    result = pool.invoke("spawner", json.dumps({"pid_file": str(pid_file)}).encode())

    assert body(result)["errorType"] == "Sandbox.Timedout"
    grandchild = int(pid_file.read_text())
    # Orphaned to init, it may linger as a zombie until reaped there; it must not keep running.
    wait_until(lambda: process_state(grandchild) in (None, "Z"), "the handler's child to die")


def test_idle_worker_that_died_is_replaced_without_an_error(make_pool: PoolFactory) -> None:
    pool = make_pool(config("pid", "behaviours.pid"))
    old_pid = body(pool.invoke("pid", b"{}"))["pid"]

    os.kill(old_pid, signal.SIGKILL)
    wait_until(lambda: process_state(old_pid) == "Z", "the worker to die")
    result = pool.invoke("pid", b"{}")

    assert result.function_error is None
    assert result.cold_start
    assert body(result)["pid"] != old_pid
    assert_reaped(old_pid)
