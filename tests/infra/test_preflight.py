"""The preflight against moto: a new account's concurrency, a missing Powertools parameter, a
bucket name another account holds.

moto answers STS, SSM and S3; it does not implement Lambda's ``GetAccountSettings``, so the
Lambda client is a real boto3 client with botocore's ``Stubber`` answering that one call in the
API's own shape. AWS's public SSM parameters cannot be written through the API (``/aws/`` is
reserved), so the one the Powertools layer needs is put into moto's SSM backend directly.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.ssm.models import Parameter, ssm_backends

from infra import packaging, preflight
from infra.config import parse_config
from infra.preflight import Finding, Level, run_preflight
from stack.app import build_app
from stack.spec import LOCAL_ACCOUNT_ID

REGION = "eu-west-1"
PREFIX = "stepflow-dev"
OTHER_ACCOUNT = "999988887777"
PARAMETER = packaging.powertools_layer_parameter(packaging.pinned_powertools_version())
LAYER = packaging.powertools_layer_arn(REGION, 27)
CONFIG = {"aws:region": REGION, "stepflow:prefix": PREFIX}


@pytest.fixture(autouse=True)
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    with mock_aws():
        yield


def publish_powertools_parameter() -> None:
    """What AWS publishes in most regions: the pinned release's layer ARN."""
    backend = ssm_backends[LOCAL_ACCOUNT_ID][REGION]
    backend._parameters[PARAMETER].append(
        Parameter(  # type: ignore[abstract]  # moto's own loaders build it the same way
            account_id=LOCAL_ACCOUNT_ID,
            name=PARAMETER,
            value=LAYER,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=datetime.datetime.now(datetime.UTC),
            version=1,
            data_type="text",
        )
    )


def clients(concurrency_limit: int, unreserved: int | None = None) -> preflight.ClientFactory:
    """moto's clients, and a Lambda client whose account runs ``concurrency_limit`` at once."""
    lambda_client = boto3.client("lambda", region_name=REGION)
    stubber = Stubber(lambda_client)
    stubber.add_response(
        "get_account_settings",
        {
            "AccountLimit": {
                "ConcurrentExecutions": concurrency_limit,
                "UnreservedConcurrentExecutions": (
                    concurrency_limit if unreserved is None else unreserved
                ),
            },
            "AccountUsage": {"FunctionCount": 0},
        },
    )
    stubber.activate()

    def client(service: str) -> Any:
        return lambda_client if service == "lambda" else boto3.client(service, region_name=REGION)

    return client


def check(
    concurrency_limit: int = 1000, config: dict[str, str] | None = None
) -> dict[str, Finding]:
    findings = run_preflight(
        {**CONFIG, **(config or {})},
        project="stepflow",
        stack="dev",
        clients=clients(concurrency_limit),
    )
    return {finding.subject: finding for finding in findings}


def changes(findings: dict[str, Finding]) -> dict[str, str]:
    return {s: f.message for s, f in findings.items() if f.level is Level.CHANGE}


def bucket(logical: str) -> str:
    return f"{PREFIX}-{logical}-{LOCAL_ACCOUNT_ID}-{REGION}"


def test_a_ready_account_passes() -> None:
    publish_powertools_parameter()
    findings = check()
    assert changes(findings) == {}
    assert findings["Powertools layer"].message == LAYER
    assert findings["Lambda concurrency"].message == "1000 executions, 1000 unreserved"
    for logical in ("landing", "staging", "archive"):
        assert findings[f"bucket {bucket(logical)}"].message == "free"
    assert findings["stack config"].message == f"account {LOCAL_ACCOUNT_ID}, region {REGION}"


def test_a_new_account_limited_to_ten_executions_is_told_to_ask_for_more() -> None:
    publish_powertools_parameter()
    message = changes(check(10))["Lambda concurrency"]
    assert "at most 10 Lambda executions at once" in message
    assert "enrichConcurrency = 10" in message
    assert "L-B99A9384" in message
    assert "`pulumi config set enrichConcurrency 5`" in message
    # Within the limit, only a warning: the stack works, bursts are retried.
    findings = check(10, {"stepflow:enrichConcurrency": "5"})
    assert findings["Lambda concurrency"].level is Level.WARN


def test_a_reservation_the_account_cannot_spare_is_refused_before_up() -> None:
    publish_powertools_parameter()
    findings = run_preflight(
        {**CONFIG, "stepflow:enrichReservedConcurrency": "10"},
        project="stepflow",
        stack="dev",
        clients=clients(1000, unreserved=105),
    )
    [reservation] = [f for f in findings if "enrichReservedConcurrency" in f.message]
    assert reservation.level is Level.CHANGE
    assert "Lambda keeps at least 100" in reservation.message
    assert "`pulumi config rm enrichReservedConcurrency`" in reservation.message


def test_a_missing_powertools_parameter_says_to_pin_the_layer() -> None:
    message = changes(check())["Powertools layer"]
    assert PARAMETER in message
    assert "ParameterNotFound" in message
    assert "`pulumi config set powertoolsLayerVersion <N>`" in message
    pinned = check(config={"stepflow:powertoolsLayerVersion": "27"})["Powertools layer"]
    assert (pinned.level, pinned.message) == (Level.OK, f"pinned to {LAYER}")


def test_a_bucket_name_another_account_holds_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    publish_powertools_parameter()
    monkeypatch.setenv("MOTO_ACCOUNT_ID", OTHER_ACCOUNT)
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=bucket("archive"), CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    monkeypatch.delenv("MOTO_ACCOUNT_ID")
    found = changes(check())
    assert list(found) == [f"bucket {bucket('archive')}"]
    assert "another AWS account" in found[f"bucket {bucket('archive')}"]
    assert "`pulumi config set prefix <prefix>`" in found[f"bucket {bucket('archive')}"]


def test_a_forbidden_head_bucket_means_taken() -> None:
    # What S3 answers for another account's bucket when ExpectedBucketOwner is ours.
    s3 = boto3.client("s3", region_name=REGION)
    with Stubber(s3) as stubber:
        stubber.add_client_error("head_bucket", "403", "Forbidden", http_status_code=403)
        app = build_app(parse_config(CONFIG.get, **_names()).stack)
        for _ in app.buckets[1:]:
            stubber.add_client_error("head_bucket", "404", "Not Found", http_status_code=404)
        findings = preflight.check_bucket_names(s3, app)
    assert [finding.level for finding in findings] == [Level.CHANGE] + [Level.OK] * (
        len(app.buckets) - 1
    )


def test_our_own_bucket_is_a_warning_not_a_change() -> None:
    publish_powertools_parameter()
    boto3.client("s3", region_name=REGION).create_bucket(
        Bucket=bucket("landing"), CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    finding = check()[f"bucket {bucket('landing')}"]
    assert finding.level is Level.WARN
    assert "already exists in this account" in finding.message


def test_a_bad_config_is_the_one_finding() -> None:
    findings = check(config={"stepflow:workflowType": "EXPRESS"})
    assert list(changes(findings)) == ["stack config"]
    assert "workflowType is EXPRESS" in changes(findings)["stack config"]


def test_the_stack_file_is_read_as_pulumi_reads_it(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(
        "config:\n  stepflow:prefix: acme\n  stepflow:pointInTimeRecovery: false\n"
        "  stepflow:parkChecks: 2\n  stepflow:token:\n    secure: AAABAxyz\n"
    )
    assert preflight.stack_values(stack_file, "us-east-2") == {
        "stepflow:prefix": "acme",
        "stepflow:pointInTimeRecovery": "false",
        "stepflow:parkChecks": "2",
        "aws:region": "us-east-2",
    }
    assert preflight.stack_values(tmp_path / "missing.yaml", None) == {}


def _names() -> dict[str, str]:
    return {"project": "stepflow", "stack": "dev", "account_id": LOCAL_ACCOUNT_ID}
