"""Successful invocations: payloads, the context object, the environment, logs, warm reuse."""

from __future__ import annotations

import json
import re

import pytest

from local.lambdas.pool import (
    FunctionNotFoundError,
    RequestTooLargeError,
)

from .conftest import FIXTURES, REPO_ROOT, PoolFactory, body, config


def test_returns_the_handlers_result_as_json_bytes(make_pool: PoolFactory) -> None:
    pool = make_pool(config("echo", "echo.handler"))

    result = pool.invoke("echo", b'{"order_id": "o-1", "items": [1, 2]}', request_id="req-1")

    assert result.function_error is None
    assert body(result) == {"order_id": "o-1", "items": [1, 2]}
    assert result.request_id == "req-1"
    assert result.duration_ms >= 0


def test_empty_payload_reaches_the_handler_as_an_empty_object(make_pool: PoolFactory) -> None:
    pool = make_pool(config("echo", "echo.quiet"))

    assert body(pool.invoke("echo", b"")) == {}


def test_a_request_id_is_generated_when_none_is_given(make_pool: PoolFactory) -> None:
    pool = make_pool(config("describe", "echo.describe"))

    result = pool.invoke("describe", b"{}")

    assert re.fullmatch(r"[0-9a-f-]{36}", result.request_id)
    assert body(result)["aws_request_id"] == result.request_id


def test_payload_larger_than_a_pipe_buffer_round_trips(make_pool: PoolFactory) -> None:
    pool = make_pool(config("echo", "echo.quiet"))
    payload = json.dumps({"blob": "y" * 3_000_000}).encode()

    assert pool.invoke("echo", payload).payload == payload


def test_decimal_is_a_number_and_bytes_pass_through(make_pool: PoolFactory) -> None:
    pool = make_pool(
        config("decimals", "behaviours.decimals"), config("raw", "behaviours.raw_bytes")
    )

    assert body(pool.invoke("decimals", b"{}")) == {"whole": 42, "part": 1.5}
    assert pool.invoke("raw", b"{}").payload == b"not json, returned as is"


def test_context_is_shaped_like_lambdas(make_pool: PoolFactory) -> None:
    pool = make_pool(
        config("stepflow-dev-describe", "echo.describe", timeout=3, memory_mb=256),
        base_environment={"AWS_REGION": "eu-west-1", "MOTO_ACCOUNT_ID": "111122223333"},
    )

    seen = body(pool.invoke("stepflow-dev-describe", b"{}", request_id="req-ctx"))

    assert seen["function_name"] == "stepflow-dev-describe"
    assert seen["function_version"] == "$LATEST"
    assert seen["invoked_function_arn"] == (
        "arn:aws:lambda:eu-west-1:111122223333:function:stepflow-dev-describe"
    )
    # A string, as on AWS, where the runtime reads it from the environment.
    assert seen["memory_limit_in_mb"] == "256"
    assert seen["aws_request_id"] == "req-ctx"
    assert seen["log_group_name"] == "/aws/lambda/stepflow-dev-describe"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", seen["log_stream_name"])
    assert 0 < seen["remaining_ms"] <= 3000
    assert seen["cwd"] == str(FIXTURES.resolve())


def test_environment_is_filtered_base_function_and_lambdas_own(
    make_pool: PoolFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEPFLOW_PARENT_ONLY", "leaks")
    names = [
        "STEPFLOW_PARENT_ONLY",
        "AWS_ENDPOINT_URL",
        "TABLE_NAME",
        "PATH",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_TIMEOUT",
        "_HANDLER",
        "LAMBDA_TASK_ROOT",
    ]
    pool = make_pool(
        config("orders", "echo.describe", environment={"TABLE_NAME": "orders"}, timeout=7),
        config("payments", "echo.describe", environment={"TABLE_NAME": "payments"}),
        base_environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:5555", "AWS_REGION": "eu-west-1"},
    )
    event = json.dumps({"env": names}).encode()

    orders = body(pool.invoke("orders", event))["env"]
    payments = body(pool.invoke("payments", event))["env"]

    assert orders["STEPFLOW_PARENT_ONLY"] is None
    assert orders["PATH"]
    assert orders["AWS_ENDPOINT_URL"] == "http://127.0.0.1:5555"
    assert orders["AWS_REGION"] == orders["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert orders["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert orders["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert orders["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "7"
    assert orders["_HANDLER"] == "echo.describe"
    assert orders["LAMBDA_TASK_ROOT"] == str(FIXTURES.resolve())
    assert orders["TABLE_NAME"] == "orders"
    assert payments["TABLE_NAME"] == "payments"


def test_reserved_environment_keys_are_rejected_as_lambda_does(make_pool: PoolFactory) -> None:
    with pytest.raises(ValueError, match="AWS_REGION"):
        make_pool(config("bad", "echo.quiet", environment={"AWS_REGION": "us-west-2"}))


def test_handler_path_is_dotted_from_the_code_root(make_pool: PoolFactory) -> None:
    pool = make_pool(
        config("dotted", "tests.local_lambdas.fixtures.echo.quiet"), code_root=REPO_ROOT
    )

    assert body(pool.invoke("dotted", b'{"ok": true}')) == {"ok": True}


def test_warm_worker_is_reused_with_its_module_state(make_pool: PoolFactory) -> None:
    pool = make_pool(config("count", "behaviours.count"))

    results = [pool.invoke("count", b"{}") for _ in range(3)]

    assert [body(r)["count"] for r in results] == [1, 2, 3]
    assert len({body(r)["pid"] for r in results}) == 1
    assert [r.cold_start for r in results] == [True, False, False]
    assert pool.stats()["count"]["cold_starts"] == 1


def test_each_function_has_its_own_process_and_module_state(make_pool: PoolFactory) -> None:
    pool = make_pool(config("a", "behaviours.count"), config("b", "behaviours.count"))

    a, b = body(pool.invoke("a", b"{}")), body(pool.invoke("b", b"{}"))

    assert a["count"] == b["count"] == 1
    assert a["pid"] != b["pid"]


def test_warm_start_pays_init_before_the_first_invocation(make_pool: PoolFactory) -> None:
    pool = make_pool(config("a", "echo.quiet"), config("b", "behaviours.count"))

    pool.start(warm=True)

    assert {name: s["workers"] for name, s in pool.stats().items()} == {"a": 1, "b": 1}
    first = pool.invoke("b", b"{}")
    assert not first.cold_start
    assert body(first)["count"] == 1
    assert pool.stats()["b"]["cold_starts"] == 1


def test_start_without_warm_leaves_init_to_the_first_invocation(make_pool: PoolFactory) -> None:
    pool = make_pool(config("a", "echo.quiet"))

    pool.start(warm=False)

    assert pool.stats()["a"]["workers"] == 0
    assert pool.invoke("a", b"{}").cold_start


def test_function_names_and_unknown_function(make_pool: PoolFactory) -> None:
    pool = make_pool(config("a", "echo.quiet"), config("b", "echo.quiet"))

    assert pool.function_names() == ["a", "b"]
    with pytest.raises(FunctionNotFoundError):
        pool.invoke("nope", b"{}")


def test_request_over_the_synchronous_limit_is_refused(make_pool: PoolFactory) -> None:
    pool = make_pool(config("echo", "echo.quiet"))

    with pytest.raises(RequestTooLargeError):
        pool.invoke("echo", b"[" + b"1," * 3_200_000 + b"1]")
    assert pool.stats()["echo"]["workers"] == 0


def test_output_goes_to_the_functions_log_not_the_protocol(make_pool: PoolFactory) -> None:
    pool = make_pool(config("echo", "echo.handler"))

    result = pool.invoke("echo", b'{"a": 1}', request_id="req-log")

    assert body(result) == {"a": 1}
    log = pool.log_path("echo").read_text()
    assert "START RequestId: req-log Version: $LATEST" in log
    assert "echo req-log" in log
    assert "END RequestId: req-log" in log
    assert re.search(r"REPORT RequestId: req-log\tDuration: [\d.]+ ms", log)


def test_powertools_logger_metrics_and_tracer_work_with_the_context(
    make_pool: PoolFactory,
) -> None:
    environment = {"POWERTOOLS_SERVICE_NAME": "validate", "POWERTOOLS_METRICS_NAMESPACE": "sf"}
    pool = make_pool(config("validate", "powertools_app.handler", environment=environment))

    result = pool.invoke("validate", b'{"order_id": "o-9"}', request_id="req-pt")

    assert result.function_error is None, result.payload
    assert body(result) == {"order_id": "o-9", "valid": True}
    records = [
        json.loads(line)
        for line in pool.log_path("validate").read_text().splitlines()
        if line.startswith("{")
    ]
    logged = next(r for r in records if r.get("message") == "validated")
    assert logged["function_name"] == "validate"
    assert logged["function_request_id"] == "req-pt"
    assert logged["cold_start"] is True
    assert logged["order_id"] == "o-9"
    metric_names = {
        metric["Name"]
        for r in records
        if "_aws" in r
        for directive in r["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }
    assert metric_names == {"ColdStart", "OrdersValidated"}
