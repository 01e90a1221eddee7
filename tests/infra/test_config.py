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
    )
    assert config.infra == InfraSettings(
        log_retention_days=90,
        deletion_protection=True,
        powertools_layer_version=27,
        state_machine_log_level="ERROR",
        log_execution_data=False,
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
    ],
)
def test_a_bad_value_names_its_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read(**{f"stepflow:{key}": value})


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
    # Every key but the commented-out layer pin is shown with a value.
    assert documented | {"powertoolsLayerVersion"} == {
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
    }
