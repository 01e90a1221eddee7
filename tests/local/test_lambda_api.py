"""The Lambda API on the local endpoint: the stack's functions listed, described and invoked
through the worker pool, and functions deployed with a zip that run in the same workers."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local import moto_patches
from local.provisioning import function_package
from local.runtime import LocalStack
from tests.local_lambdas.conftest import wait_until

ROLE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def package(**modules: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, source in modules.items():
            archive.writestr(f"{name}.py", source)
    return buffer.getvalue()


GREETER = """
import os
def handler(event, context):
    return {"greeting": os.environ.get("GREETING", "hello"), "event": event,
            "function": context.function_name, "memory": context.memory_limit_in_mb}
"""
SLEEPER = """
import time
def handler(event, context):
    time.sleep(event.get("seconds", 30))
    return "woke"
"""


@pytest.fixture(scope="module")
def lambda_api(local_stack: LocalStack) -> Any:
    return local_stack.client("lambda")


@pytest.fixture(scope="module")
def role_arn(local_stack: LocalStack) -> str:
    role = local_stack.client("iam").create_role(
        RoleName=f"user-functions-{uuid.uuid4().hex[:8]}",
        AssumeRolePolicyDocument=json.dumps(ROLE_TRUST),
    )
    return str(role["Role"]["Arn"])


@pytest.fixture
def create_function(lambda_api: Any, role_arn: str) -> Iterator[Callable[..., dict[str, Any]]]:
    """Create zip functions with fresh names; each is deleted when the test ends."""
    created: list[str] = []

    def create(code: bytes, **settings: Any) -> dict[str, Any]:
        name = f"user-{uuid.uuid4().hex[:10]}"
        request = {
            "FunctionName": name,
            "Runtime": "python3.12",
            "Role": role_arn,
            "Handler": "app.handler",
            "Code": {"ZipFile": code},
            **settings,
        }
        answer: dict[str, Any] = lambda_api.create_function(**request)
        created.append(name)
        return answer

    yield create
    for name in created:
        with contextlib.suppress(ClientError):  # the test deleted it
            lambda_api.delete_function(FunctionName=name)


def invoke(lambda_api: Any, name: str, payload: Any = None, **options: Any) -> tuple[Any, Any]:
    answer = lambda_api.invoke(
        FunctionName=name, Payload=json.dumps(payload or {}).encode(), **options
    )
    return answer, json.loads(answer["Payload"].read() or b"null")


# --- the stack's functions ------------------------------------------------------------------


def test_list_functions_describes_every_function_of_the_stack(
    local_stack: LocalStack, lambda_api: Any
) -> None:
    app = local_stack.app
    listed = {
        f["FunctionName"]: f
        for page in lambda_api.get_paginator("list_functions").paginate()
        for f in page["Functions"]
    }
    for spec in app.functions:
        physical = app.physical_name(spec.name)
        described = listed[physical]
        assert described["Handler"] == spec.handler
        assert described["Runtime"] == "python3.13"
        assert described["Architectures"] == ["arm64"]
        assert described["MemorySize"] == spec.memory_mb
        assert described["Timeout"] == spec.timeout_seconds
        assert described["Role"].endswith(f":role/{physical}-role")
        # The environment its workers really get: backend references and overrides filled in.
        assert described.get("Environment", {}).get("Variables", {}) == dict(
            local_stack.pool.config(physical).environment
        )


def test_get_function_answers_the_package_pulumi_would_ship(
    local_stack: LocalStack, lambda_api: Any
) -> None:
    spec = local_stack.app.function("deliver")
    physical = local_stack.app.physical_name(spec.name)
    described = lambda_api.get_function(FunctionName=physical)
    package_bytes = function_package(spec)
    assert described["Configuration"]["CodeSize"] == len(package_bytes)
    names = zipfile.ZipFile(io.BytesIO(package_bytes)).namelist()
    assert "functions/deliver/handler.py" in names
    assert not any(name.startswith("functions/validate/") for name in names)
    configuration = lambda_api.get_function_configuration(FunctionName=physical)
    assert configuration["FunctionArn"].endswith(f":function:{physical}")


def test_invoke_runs_the_stack_function_in_its_worker(
    local_stack: LocalStack, lambda_api: Any
) -> None:
    echo = local_stack.app.physical_name("echo")
    before = local_stack.pool.stats()[echo]["invocations"]
    answer, payload = invoke(lambda_api, echo, {"order": 42})
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    assert payload == {"order": 42}
    assert local_stack.pool.stats()[echo]["invocations"] == before + 1


def test_a_handler_exception_comes_back_in_lambdas_error_shape(
    local_stack: LocalStack, lambda_api: Any
) -> None:
    answer, payload = invoke(lambda_api, local_stack.app.physical_name("permanent"))
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "PermanentDeliveryError"
    assert set(payload) == {"errorMessage", "errorType", "requestId", "stackTrace"}


def test_log_type_tail_returns_the_end_of_the_invocations_log(
    local_stack: LocalStack, lambda_api: Any
) -> None:
    answer, _ = invoke(lambda_api, local_stack.app.physical_name("permanent"), LogType="Tail")
    tail = base64.b64decode(answer["LogResult"]).decode()
    assert len(tail.encode()) <= 4096
    request_id = answer["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid")
    assert "START RequestId: " in tail
    assert "[ERROR] PermanentDeliveryError" in tail
    assert "REPORT RequestId: " in tail
    assert request_id is None or request_id  # the header is moto's own; the log has Lambda's
    without_tail, _ = invoke(lambda_api, local_stack.app.physical_name("echo"))
    assert "LogResult" not in without_tail


def test_dry_run_and_event_invocations(local_stack: LocalStack, lambda_api: Any) -> None:
    echo = local_stack.app.physical_name("echo")
    before = local_stack.pool.stats()[echo]["invocations"]
    dry = lambda_api.invoke(FunctionName=echo, InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    event = lambda_api.invoke(FunctionName=echo, InvocationType="Event", Payload=b"{}")
    assert event["StatusCode"] == 202
    wait_until(
        lambda: local_stack.pool.stats()[echo]["invocations"] == before + 1,
        "the Event invocation to run (and the DryRun not to)",
    )


def test_invoking_an_unknown_function_is_resource_not_found(lambda_api: Any) -> None:
    with pytest.raises(ClientError) as refused:
        lambda_api.invoke(FunctionName="no-such-function", Payload=b"{}")
    assert refused.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_a_payload_that_is_not_json_is_refused_before_it_runs(
    local_stack: LocalStack, lambda_api: Any
) -> None:
    echo = local_stack.app.physical_name("echo")
    before = local_stack.pool.stats()[echo]["invocations"]
    with pytest.raises(ClientError) as refused:
        lambda_api.invoke(FunctionName=echo, Payload=b"{not json")
    assert refused.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert local_stack.pool.stats()[echo]["invocations"] == before


# --- functions deployed through the Lambda API ----------------------------------------------


def test_a_zip_function_runs_in_a_worker_with_its_configuration(
    lambda_api: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    created = create_function(
        package(app=GREETER),
        Environment={"Variables": {"GREETING": "hi"}},
        MemorySize=256,
    )
    name = created["FunctionName"]
    answer, payload = invoke(lambda_api, name, {"n": 1})
    assert "FunctionError" not in answer, payload
    assert payload == {"greeting": "hi", "event": {"n": 1}, "function": name, "memory": "256"}

    lambda_api.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"GREETING": "hey"}}, MemorySize=512
    )
    _, payload = invoke(lambda_api, name)
    assert (payload["greeting"], payload["memory"]) == ("hey", "512")

    replacement = GREETER.replace('"greeting"', '"salutation"')
    lambda_api.update_function_code(FunctionName=name, ZipFile=package(app=replacement))
    _, payload = invoke(lambda_api, name)
    assert payload["salutation"] == "hey"  # new code, configuration kept


def test_a_zip_function_times_out_as_lambda_does(
    lambda_api: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    name = create_function(package(app=SLEEPER), Timeout=1)["FunctionName"]
    answer, payload = invoke(lambda_api, name, {"seconds": 30})
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert payload["errorMessage"].endswith("Task timed out after 1.00 seconds")


def test_reserved_concurrency_of_zero_throttles(
    lambda_api: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    name = create_function(package(app=GREETER))["FunctionName"]
    lambda_api.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as throttled:
        invoke(lambda_api, name)
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.value.response["Reason"] == (
        "ReservedFunctionConcurrentInvocationLimitExceeded"
    )
    lambda_api.delete_function_concurrency(FunctionName=name)
    answer, _ = invoke(lambda_api, name)
    assert "FunctionError" not in answer


def test_a_handler_that_cannot_be_imported_fails_at_invoke(
    lambda_api: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    name = create_function(package(other=GREETER))["FunctionName"]
    answer, payload = invoke(lambda_api, name)
    assert answer["FunctionError"] == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"Runtime": "nodejs20.x"}, "The runtime parameter of nodejs20.x is not supported"),
        ({"Code": {"ZipFile": b"not a zip"}}, "Could not unzip uploaded file."),
        (
            {"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}},
            "Reserved keys used in this request: AWS_REGION",
        ),
    ],
)
def test_what_the_local_service_cannot_run_is_refused(
    lambda_api: Any, role_arn: str, settings: dict[str, Any], message: str
) -> None:
    name = f"refused-{uuid.uuid4().hex[:8]}"
    request = {
        "FunctionName": name,
        "Runtime": "python3.13",
        "Role": role_arn,
        "Handler": "app.handler",
        "Code": {"ZipFile": package(app=GREETER)},
        **settings,
    }
    with pytest.raises(ClientError) as refused:
        lambda_api.create_function(**request)
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert message in refused.value.response["Error"]["Message"]
    with pytest.raises(ClientError):
        lambda_api.get_function(FunctionName=name)  # nothing was stored


def test_a_deleted_function_is_gone(
    lambda_api: Any, create_function: Callable[..., dict[str, Any]]
) -> None:
    name = create_function(package(app=GREETER))["FunctionName"]
    invoke(lambda_api, name)
    lambda_api.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as gone:
        invoke(lambda_api, name)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_task_states_reach_zip_functions_by_integration_and_by_bare_arn(
    local_stack: LocalStack,
    lambda_api: Any,
    role_arn: str,
    create_function: Callable[..., dict[str, Any]],
) -> None:
    created = create_function(package(app=GREETER))
    arn = created["FunctionArn"]
    definition = {
        "StartAt": "Integration",
        "States": {
            "Integration": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": arn, "Payload.$": "$"},
                "ResultSelector": {"greeting.$": "$.Payload.greeting"},
                "ResultPath": "$.integration",
                "Next": "Bare",
            },
            "Bare": {"Type": "Task", "Resource": arn, "ResultPath": "$.bare", "End": True},
        },
    }
    sfn = local_stack.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=f"user-machine-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn=role_arn,
    )
    started = sfn.start_execution(
        stateMachineArn=machine["stateMachineArn"], input=json.dumps({"n": 7})
    )
    described = local_stack.wait_for_execution(started["executionArn"])
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert output["integration"] == {"greeting": "hello"}
    assert output["bare"]["event"]["integration"] == {"greeting": "hello"}


def test_compatibility_check_names_a_function_setting_moto_no_longer_keeps(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.awslambda import models

    def init_without_runtime(self: Any, account_id: str, spec: dict[str, Any]) -> None:
        self.function_name = spec["FunctionName"]  # and nothing else

    monkeypatch.setattr(models.LambdaFunction, "__init__", init_without_runtime)
    with pytest.raises(
        RuntimeError, match=r"LambdaFunction\.__init__ \(setting self\.run_time\)"
    ) as missing:
        moto_patches.verify_moto_compatible()
    assert "self.function_name" not in str(missing.value)
