"""Each moto patch, proven through the local endpoint; a moto upgrade that breaks one fails here."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local import moto_patches
from local.runtime import LocalStack

PASS_ONLY = {
    "StartAt": "First",
    "States": {
        "First": {"Type": "Pass", "Next": "Second"},
        "Second": {"Type": "Pass", "Next": "Third"},
        "Third": {"Type": "Pass", "End": True},
    },
}


def _machine(stack: LocalStack, definition: dict[str, Any]) -> str:
    sfn = stack.client("stepfunctions")
    created = sfn.create_state_machine(
        name=f"patch-test-{uuid.uuid4().hex[:8]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/test",
    )
    arn: str = created["stateMachineArn"]
    return arn


def _run(stack: LocalStack, machine_arn: str, name: str, payload: object = None) -> str:
    sfn = stack.client("stepfunctions")
    started = sfn.start_execution(
        stateMachineArn=machine_arn, name=name, input=json.dumps(payload or {"n": 1})
    )
    execution_arn: str = started["executionArn"]
    stack.wait_for_execution(execution_arn)
    return execution_arn


def test_moto_still_has_everything_the_patches_need() -> None:
    moto_patches.verify_moto_compatible()


def test_compatibility_check_names_what_a_moto_upgrade_removed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
        lambda_eval_utils,
    )

    monkeypatch.delattr(lambda_eval_utils, "_invoke_lambda_function")
    with pytest.raises(RuntimeError, match="_invoke_lambda_function"):
        moto_patches.verify_moto_compatible()


def test_racing_conditional_writes_on_one_key_let_exactly_one_writer_win(
    local_stack: LocalStack,
) -> None:
    dynamodb = local_stack.client("dynamodb")
    table = f"race-{uuid.uuid4().hex[:8]}"
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    writers, rounds = 16, 30
    # A tiny switch interval makes the server's threads interleave inside moto's
    # check-then-write; without the patch some rounds then have two winners.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        outcomes_by_round = [
            _race_conditional_puts(local_stack, table, f"event-{n}", writers) for n in range(rounds)
        ]
    finally:
        sys.setswitchinterval(switch_interval)
    for round_number, outcomes in enumerate(outcomes_by_round):
        key = f"event-{round_number}"
        key = f"event-{round_number}"
        winners = [writer for writer, code in outcomes.items() if code == "won"]
        assert len(winners) == 1, f"round {round_number}: {len(winners)} writers won"
        assert sorted(set(outcomes.values())) == ["ConditionalCheckFailedException", "won"]
        stored = dynamodb.get_item(TableName=table, Key={"pk": {"S": key}}, ConsistentRead=True)
        assert stored["Item"]["writer"]["N"] == str(winners[0])


def _race_conditional_puts(stack: LocalStack, table: str, key: str, writers: int) -> dict[int, str]:
    """Start ``writers`` threads at once, each claiming ``key``; return each one's outcome."""
    barrier = threading.Barrier(writers)
    outcomes: dict[int, str] = {}

    def write(writer: int) -> None:
        client = stack.client("dynamodb")
        barrier.wait()
        try:
            client.put_item(
                TableName=table,
                Item={"pk": {"S": key}, "writer": {"N": str(writer)}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            outcomes[writer] = "won"
        except ClientError as error:
            outcomes[writer] = str(error.response["Error"]["Code"])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def test_a_definition_naming_a_missing_state_is_rejected(local_stack: LocalStack) -> None:
    broken = {
        "StartAt": "First",
        "States": {"First": {"Type": "Pass", "Next": "Nowhere"}},
    }
    sfn = local_stack.client("stepfunctions")
    with pytest.raises(ClientError) as raised:
        _machine(local_stack, broken)
    assert raised.value.response["Error"]["Code"] == "InvalidDefinition"
    assert "Nowhere" in raised.value.response["Error"]["Message"]
    assert sfn  # the endpoint stays up after the rejection
    sfn.list_state_machines()


def test_dangling_transitions_are_found_inside_branches_and_item_processors() -> None:
    definition = {
        "StartAt": "Fan out",
        "States": {
            "Fan out": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}],
                "Next": "Each",
            },
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Item",
                    "States": {"Item": {"Type": "Pass", "End": True}},
                },
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}],
                "End": True,
            },
        },
    }
    problems = moto_patches.dangling_transitions(definition)
    assert len(problems) == 2
    assert any("'B'" in p for p in problems)
    assert any("'Gone'" in p for p in problems)


def test_finished_executions_leave_memory_but_stay_inspectable(local_stack: LocalStack) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    machine_arn = _machine(local_stack, PASS_ONLY)
    names = [f"run-{i}" for i in range(5)]
    arns = [_run(local_stack, machine_arn, name) for name in names]
    backend = stepfunctions_parser_backends["123456789012"][local_stack.app.config.region]
    machine = next(m for m in backend.state_machines if m.arn == machine_arn)
    assert machine.executions == []
    sfn = local_stack.client("stepfunctions")
    for arn in arns:
        described = sfn.describe_execution(executionArn=arn)
        assert described["status"] == "SUCCEEDED"
        assert json.loads(described["output"]) == {"n": 1}
    listed = sfn.list_executions(stateMachineArn=machine_arn)["executions"]
    assert sorted(e["name"] for e in listed) == sorted(names)


def test_history_pages_and_reverses_like_the_service(local_stack: LocalStack) -> None:
    machine_arn = _machine(local_stack, PASS_ONLY)
    execution_arn = _run(local_stack, machine_arn, "paged")
    sfn = local_stack.client("stepfunctions")
    whole = sfn.get_execution_history(executionArn=execution_arn)["events"]
    assert "nextToken" not in sfn.get_execution_history(executionArn=execution_arn)
    assert whole[0]["type"] == "ExecutionStarted"
    assert whole[-1]["type"] == "ExecutionSucceeded"

    paged: list[dict[str, Any]] = []
    token: str | None = None
    pages = 0
    while True:
        request: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 2}
        if token:
            request["nextToken"] = token
        page = sfn.get_execution_history(**request)
        assert len(page["events"]) <= 2
        paged.extend(page["events"])
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert [e["id"] for e in paged] == [e["id"] for e in whole]
    assert pages == (len(whole) + 1) // 2

    reverse = sfn.get_execution_history(executionArn=execution_arn, reverseOrder=True)["events"]
    assert [e["id"] for e in reverse] == [e["id"] for e in reversed(whole)]


def test_list_executions_filters_by_status_and_paginates(local_stack: LocalStack) -> None:
    failing = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom"}}}
    machine_arn = _machine(local_stack, failing)
    for i in range(3):
        _run(local_stack, machine_arn, f"fails-{i}")
    sfn = local_stack.client("stepfunctions")
    failed = sfn.list_executions(stateMachineArn=machine_arn, statusFilter="FAILED")["executions"]
    assert len(failed) == 3
    assert (
        sfn.list_executions(stateMachineArn=machine_arn, statusFilter="SUCCEEDED")["executions"]
        == []
    )
    first = sfn.list_executions(stateMachineArn=machine_arn, maxResults=2)
    assert len(first["executions"]) == 2
    second = sfn.list_executions(
        stateMachineArn=machine_arn, maxResults=2, nextToken=first["nextToken"]
    )
    assert len(second["executions"]) == 1
    assert "nextToken" not in second


def test_execution_names_are_checked_and_stay_unique(local_stack: LocalStack) -> None:
    machine_arn = _machine(local_stack, PASS_ONLY)
    sfn = local_stack.client("stepfunctions")
    for bad in ("has space", "a/b", "x" * 81):
        with pytest.raises(ClientError) as raised:
            sfn.start_execution(stateMachineArn=machine_arn, name=bad, input="{}")
        assert raised.value.response["Error"]["Code"] == "InvalidName"
    _run(local_stack, machine_arn, "only-once")
    with pytest.raises(ClientError) as raised:
        sfn.start_execution(stateMachineArn=machine_arn, name="only-once", input='{"n": 1}')
    assert raised.value.response["Error"]["Code"] == "ExecutionAlreadyExists"


def test_unnamed_executions_get_a_unique_name(local_stack: LocalStack) -> None:
    machine_arn = _machine(local_stack, PASS_ONLY)
    sfn = local_stack.client("stepfunctions")
    first = sfn.start_execution(stateMachineArn=machine_arn, input="{}")["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine_arn, input="{}")["executionArn"]
    assert first != second
    assert not first.endswith(":None")


def test_compatibility_check_names_a_missing_instance_attribute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto.stepfunctions.parser.asl.eval.event import event_manager

    monkeypatch.delitem(event_manager.EventManager.__annotations__, "_history_event_list")
    with pytest.raises(RuntimeError, match=r"EventManager\._history_event_list"):
        moto_patches.verify_moto_compatible()


def test_redrive_execution_is_an_action_of_the_endpoint(local_stack: LocalStack) -> None:
    from moto.stepfunctions.responses import StepFunctionResponse

    assert callable(getattr(StepFunctionResponse, "redrive_execution", None))
    failing = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom"}}}
    execution_arn = _run(local_stack, _machine(local_stack, failing), "redrive-wired")
    sfn = local_stack.client("stepfunctions")
    assert sfn.redrive_execution(executionArn=execution_arn)["redriveDate"]
    described = local_stack.wait_for_execution(execution_arn)
    assert described["status"] == "FAILED"  # the Fail state ran again
    assert described["redriveCount"] == 1


def test_s3_notifications_reach_sqs_with_the_whole_record(local_stack: LocalStack) -> None:
    s3 = local_stack.client("s3")
    sqs = local_stack.client("sqs")
    name = f"patch-test-{uuid.uuid4().hex[:8]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=name,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": "landed",
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}},
                }
            ]
        },
    )
    put = s3.put_object(Bucket=name, Key="in/a b(1).json", Body=b"{}")
    s3.put_object(Bucket=name, Key="elsewhere/skipped.json", Body=b"{}")
    bodies = [
        json.loads(message["Body"])
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    ]
    assert [b.get("Event") for b in bodies if "Event" in b] == ["s3:TestEvent"]
    [notification] = [b for b in bodies if "Records" in b]
    [record] = notification["Records"]
    assert list(record) == [
        "eventVersion",
        "eventSource",
        "awsRegion",
        "eventTime",
        "eventName",
        "userIdentity",
        "requestParameters",
        "responseElements",
        "s3",
    ]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"].endswith("Z")
    assert record["s3"]["configurationId"] == "landed"
    assert record["s3"]["bucket"]["name"] == name
    assert record["s3"]["bucket"]["ownerIdentity"]["principalId"]
    obj = record["s3"]["object"]
    assert obj["key"] == "in/a+b%281%29.json"
    assert obj["size"] == 2
    assert obj["eTag"] == put["ETag"].strip('"')
    assert obj["versionId"] == put["VersionId"]
    assert len(obj["sequencer"]) == 18


def test_s3_sequencers_increase() -> None:
    record = {"s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}
    first = moto_patches.complete_s3_record(record, "k")["s3"]["object"]["sequencer"]
    second = moto_patches.complete_s3_record(record, "k")["s3"]["object"]["sequencer"]
    assert second > first


def _list_all(sfn: Any, machine_arn: str, between_pages: Any = None, **filters: Any) -> list[str]:
    arns: list[str] = []
    request: dict[str, Any] = {"stateMachineArn": machine_arn, "maxResults": 2, **filters}
    while True:
        page = sfn.list_executions(**request)
        arns.extend(e["executionArn"] for e in page["executions"])
        if "nextToken" not in page:
            return arns
        if between_pages is not None:
            between_pages()
        request["nextToken"] = page["nextToken"]


def test_list_executions_never_repeats_one_started_between_pages(local_stack: LocalStack) -> None:
    machine_arn = _machine(local_stack, PASS_ONLY)
    for i in range(5):
        _run(local_stack, machine_arn, f"before-{i}")
    started = iter(range(100))

    def start_one() -> None:
        # A newer execution sorts first: an offset token would show page 1's last item again.
        _run(local_stack, machine_arn, f"between-{next(started)}")

    sfn = local_stack.client("stepfunctions")
    listed = _list_all(sfn, machine_arn, start_one)
    assert len(listed) == len(set(listed))
    assert {arn.rsplit(":", 1)[-1] for arn in listed} >= {f"before-{i}" for i in range(5)}

    succeeded = _list_all(sfn, machine_arn, start_one, statusFilter="SUCCEEDED")
    assert len(succeeded) == len(set(succeeded))


def test_list_executions_never_repeats_one_while_executions_finish(
    local_stack: LocalStack,
) -> None:
    waiting = {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 20, "End": True}}}
    machine_arn = _machine(local_stack, waiting)
    sfn = local_stack.client("stepfunctions")
    stop = threading.Event()

    def keep_starting() -> None:
        # Each runs ~20 ms at the tests' time scale: executions keep moving to the archive.
        count = 0
        while not stop.is_set():
            sfn.start_execution(stateMachineArn=machine_arn, name=f"churn-{count}", input="{}")
            count += 1

    for i in range(6):
        sfn.start_execution(stateMachineArn=machine_arn, name=f"seed-{i}", input="{}")
    starter = threading.Thread(target=keep_starting)
    starter.start()
    try:
        listings = [_list_all(sfn, machine_arn) for _ in range(5)]
        listings += [_list_all(sfn, machine_arn, statusFilter="SUCCEEDED") for _ in range(5)]
    finally:
        stop.set()
        starter.join()
    for listed in listings:
        assert len(listed) == len(set(listed)), "an execution was listed twice"
    assert any(len(listed) >= 6 for listed in listings)


def test_list_executions_refuses_a_token_it_did_not_make(local_stack: LocalStack) -> None:
    machine_arn = _machine(local_stack, PASS_ONLY)
    sfn = local_stack.client("stepfunctions")
    with pytest.raises(ClientError, match="InvalidToken"):
        sfn.list_executions(stateMachineArn=machine_arn, nextToken="bm90LWEtdG9rZW4=")
