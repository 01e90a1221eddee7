"""Reading Pulumi.<stack>.yaml into StackConfig and InfraSettings."""

from __future__ import annotations

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via cfn-lint) ships no stubs

from infra.config import ConfigError, DeployConfig, InfraSettings, read_config
from infra.packaging import REPO_ROOT
from stack.spec import StackConfig, WorkflowType
from tests.infra.harness import PROJECT, REGION, STACK, run_program


def read(region: str | None = REGION, **config: str) -> DeployConfig:
    return run_program(read_config, config=config, region=region).result


def test_defaults_are_the_descriptions_defaults_with_the_stack_prefix() -> None:
    config = read()
    assert config.stack == StackConfig(prefix=f"{PROJECT}-{STACK}", region=REGION)
    # The harness turns deletion protection off, as a dev stack would.
    assert config.infra == InfraSettings(deletion_protection=False)


def test_every_key_is_read() -> None:
    config = read(
        **{
            "aws:region": "us-west-2",
            "stepflow:prefix": "acme-prod",
            "stepflow:logLevel": "debug",
            "stepflow:dedupeTtlDays": "3",
            "stepflow:workflowType": "express",
            "stepflow:pointInTimeRecovery": "false",
            "stepflow:maxReceiveCount": "8",
            "stepflow:logRetentionDays": "90",
            "stepflow:deletionProtection": "true",
            "stepflow:powertoolsLayerVersion": "27",
            "stepflow:stateMachineLogLevel": "error",
            "stepflow:logExecutionData": "false",
            "stepflow:downstreamUrl": "https://partner.example.org/v2/ingest",
            "stepflow:circuitFailureThreshold": "3",
            "stepflow:circuitCooldownSeconds": "60",
            "stepflow:parkChecks": "5",
            "stepflow:ingestBatchSize": "100",
            "stepflow:ingestBatchingWindowSeconds": "20",
            "stepflow:maxBulkEvents": "500",
            "stepflow:alarmEmail": "ops@example.com",
            "stepflow:queueAgeAlarmSeconds": "900",
        }
    )
    assert config.stack == StackConfig(
        prefix="acme-prod",
        region="us-west-2",
        log_level="DEBUG",
        dedupe_ttl_days=3,
        workflow_type=WorkflowType.EXPRESS,
        point_in_time_recovery=False,
        max_receive_count=8,
        downstream_url="https://partner.example.org/v2/ingest",
        circuit_failure_threshold=3,
        circuit_cooldown_seconds=60,
        park_checks=5,
        ingest_batch_size=100,
        ingest_batching_window_seconds=20,
        max_bulk_events=500,
    )
    assert config.infra == InfraSettings(
        log_retention_days=90,
        deletion_protection=True,
        powertools_layer_version=27,
        state_machine_log_level="ERROR",
        log_execution_data=False,
        alarm_email="ops@example.com",
        queue_age_alarm_seconds=900,
    )


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("prefix", "Stepflow_Dev", "prefix"),
        ("prefix", "x" * 31, "prefix"),
        ("logLevel", "LOUD", "logLevel"),
        ("workflowType", "SOMETIMES", "workflowType"),
        ("logRetentionDays", "31", "logRetentionDays"),
        ("dedupeTtlDays", "0", "dedupeTtlDays"),
        ("maxReceiveCount", "-1", "maxReceiveCount"),
        ("powertoolsLayerVersion", "0", "powertoolsLayerVersion"),
        ("stateMachineLogLevel", "SOME", "stateMachineLogLevel"),
        ("downstreamUrl", "http://downstream.example.com/ingest", "https://"),
        ("downstreamUrl", "downstream.example.com", "downstreamUrl"),
        ("circuitFailureThreshold", "0", "circuitFailureThreshold"),
        ("circuitCooldownSeconds", "-5", "circuitCooldownSeconds"),
        ("parkChecks", "0", "parkChecks"),
        ("ingestBatchSize", "0", "ingestBatchSize"),
        ("ingestBatchSize", "10001", "ingestBatchSize"),
        ("ingestBatchingWindowSeconds", "301", "ingestBatchingWindowSeconds"),
        ("maxBulkEvents", "0", "maxBulkEvents"),
        ("alarmEmail", "ops", "alarmEmail"),
        ("queueAgeAlarmSeconds", "0", "queueAgeAlarmSeconds"),
    ],
)
def test_a_bad_value_names_its_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read(**{f"stepflow:{key}": value})


def test_a_batch_above_ten_needs_a_batching_window() -> None:
    # Pipes' rule for SQS sources; caught here instead of by CreatePipe.
    with pytest.raises(ConfigError, match="ingestBatchingWindowSeconds of at least 1"):
        read(**{"stepflow:ingestBatchSize": "11", "stepflow:ingestBatchingWindowSeconds": "0"})
    assert read(**{"stepflow:ingestBatchSize": "10"}).stack.ingest_batch_size == 10


def test_the_region_is_required() -> None:
    with pytest.raises(Exception, match="aws:region"):
        read(region=None)


def test_the_example_stack_config_reads_cleanly() -> None:
    example = yaml.safe_load((REPO_ROOT / "Pulumi.dev.yaml.example").read_text())["config"]
    values = {
        key: str(value).lower() if isinstance(value, bool) else str(value)
        for key, value in example.items()
    }
    config = read(**values)
    assert config.stack.prefix == "stepflow-dev"
    assert config.infra.deletion_protection is False
    documented = {key.removeprefix("stepflow:") for key in example if key.startswith("stepflow:")}
    # Every key but the commented-out layer pin and alarm address is shown with a value.
    assert documented | {"powertoolsLayerVersion", "alarmEmail"} == {
        "prefix",
        "logLevel",
        "dedupeTtlDays",
        "workflowType",
        "pointInTimeRecovery",
        "maxReceiveCount",
        "logRetentionDays",
        "deletionProtection",
        "stateMachineLogLevel",
        "logExecutionData",
        "powertoolsLayerVersion",
        "downstreamUrl",
        "circuitFailureThreshold",
        "circuitCooldownSeconds",
        "parkChecks",
        "ingestBatchSize",
        "ingestBatchingWindowSeconds",
        "maxBulkEvents",
        "queueAgeAlarmSeconds",
        "alarmEmail",
    }
    # The example shows the defaults (but for deletion protection).
    assert config.stack == StackConfig(prefix="stepflow-dev", region="eu-west-1")
    assert config.infra == InfraSettings(deletion_protection=False)
