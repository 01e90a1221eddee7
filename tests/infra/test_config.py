"""Reading Pulumi.<stack>.yaml into StackConfig and InfraSettings."""

from __future__ import annotations

import annotated_types
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (via cfn-lint) ships no stubs
from pydantic import BaseModel

from functions.api.core import ApiSettings
from infra import config as infra_config
from infra.config import ConfigError, DeployConfig, InfraSettings, read_config
from infra.packaging import REPO_ROOT
from stack.spec import Intake, StackConfig, WorkflowType
from tests.infra.harness import PROJECT, REGION, STACK, RecordingMocks, run_program


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
            "stepflow:stateMachineLogLevel": "all",
            "stepflow:logExecutionData": "true",
            "stepflow:downstreamUrl": "https://partner.example.org/v2/ingest",
            "stepflow:circuitFailureThreshold": "3",
            "stepflow:circuitCooldownSeconds": "60",
            "stepflow:parkChecks": "4",
            "stepflow:ingestBatchSize": "100",
            "stepflow:ingestBatchingWindowSeconds": "20",
            "stepflow:intake": "per-request",
            "stepflow:maxBulkEvents": "500",
            "stepflow:providerUrl": "https://keepa.example.net/api",
            "stepflow:enrichBatchSize": "50",
            "stepflow:enrichConcurrency": "4",
            "stepflow:enrichReservedConcurrency": "6",
            "stepflow:maxInlineProducts": "250",
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
        park_checks=4,
        ingest_batch_size=100,
        ingest_batching_window_seconds=20,
        intake=Intake.PER_REQUEST,
        max_bulk_events=500,
        provider_url="https://keepa.example.net/api",
        enrich_batch_size=50,
        enrich_concurrency=4,
        enrich_reserved_concurrency=6,
        max_inline_products=250,
    )
    assert config.infra == InfraSettings(
        log_retention_days=90,
        deletion_protection=True,
        powertools_layer_version=27,
        state_machine_log_level="ALL",
        log_execution_data=True,
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
        ("intake", "batched", "intake"),
        ("maxBulkEvents", "0", "maxBulkEvents"),
        ("maxBulkEvents", "10001", "maxBulkEvents"),
        ("providerUrl", "http://provider.example.com", "https://"),
        ("providerUrl", "provider.example.com", "providerUrl"),
        ("enrichBatchSize", "0", "enrichBatchSize"),
        ("enrichBatchSize", "101", "enrichBatchSize"),
        ("enrichConcurrency", "0", "enrichConcurrency"),
        ("enrichConcurrency", "41", "enrichConcurrency"),
        ("enrichReservedConcurrency", "0", "enrichReservedConcurrency"),
        ("enrichReservedConcurrency", "ten", "enrichReservedConcurrency"),
        ("pointInTimeRecovery", "yes", "pointInTimeRecovery"),
        ("maxInlineProducts", "0", "maxInlineProducts"),
        ("maxInlineProducts", "100001", "maxInlineProducts"),
        ("alarmEmail", "ops", "alarmEmail"),
        ("queueAgeAlarmSeconds", "0", "queueAgeAlarmSeconds"),
    ],
)
def test_a_bad_value_names_its_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        read(**{f"stepflow:{key}": value})


def test_the_largest_accepted_values_deploy() -> None:
    config = read(
        **{
            "stepflow:maxBulkEvents": "10000",
            "stepflow:enrichBatchSize": "100",
            "stepflow:enrichConcurrency": "40",
            "stepflow:maxInlineProducts": "100000",
        }
    )
    assert (
        config.stack.max_bulk_events,
        config.stack.enrich_batch_size,
        config.stack.enrich_concurrency,
        config.stack.max_inline_products,
    ) == (10_000, 100, 40, 100_000)


def _bounds(model: type[BaseModel], field: str) -> tuple[object, object]:
    metadata = model.model_fields[field].metadata
    [low] = [m.ge for m in metadata if isinstance(m, annotated_types.Ge)]
    [high] = [m.le for m in metadata if isinstance(m, annotated_types.Le)]
    return low, high


def test_the_bounds_are_what_the_api_lambda_accepts() -> None:
    # A value the config let through but the api's settings refuse would deploy, then fail every
    # cold start of the api.
    assert _bounds(ApiSettings, "max_bulk_events") == (1, infra_config.MAX_BULK_EVENTS)
    assert _bounds(ApiSettings, "max_inline_products") == (1, infra_config.MAX_INLINE_PRODUCTS)
    assert _bounds(ApiSettings, "enrich_batch_size") == (1, 100)


def test_a_batch_above_ten_needs_a_batching_window() -> None:
    # Pipes' rule for SQS sources; caught here instead of by CreatePipe.
    with pytest.raises(ConfigError, match="ingestBatchingWindowSeconds of at least 1"):
        read(**{"stepflow:ingestBatchSize": "11", "stepflow:ingestBatchingWindowSeconds": "0"})
    assert read(**{"stepflow:ingestBatchSize": "10"}).stack.ingest_batch_size == 10


def test_the_account_is_the_deploying_one() -> None:
    # Bucket names carry it: read from the credentials, never typed in.
    mocks = RecordingMocks(account="111122223333")
    config = run_program(read_config, region=REGION, mocks=mocks).result
    assert config.stack.account_id == "111122223333"


def test_express_is_refused_when_parking_outlasts_an_express_execution() -> None:
    with pytest.raises(ConfigError) as refused:
        read(**{"stepflow:workflowType": "EXPRESS"})
    message = str(refused.value)
    # The numbers, why, and what to change.
    assert "3 x 300 s = 900 s" in message
    assert "redriven" in message
    assert "workflowType STANDARD" in message
    assert "parkChecks" in message
    assert "circuitCooldownSeconds" in message
    fits = {"stepflow:workflowType": "EXPRESS", "stepflow:circuitCooldownSeconds": "60"}
    assert read(**{**fits, "stepflow:parkChecks": "4"}).stack.workflow_type is WorkflowType.EXPRESS
    with pytest.raises(ConfigError, match="5 x 60 s = 300 s"):
        read(**{**fits, "stepflow:parkChecks": "5"})


def test_a_reservation_below_the_maps_concurrency_is_refused() -> None:
    with pytest.raises(
        ConfigError, match="enrichReservedConcurrency is 5, below enrichConcurrency"
    ):
        read(**{"stepflow:enrichReservedConcurrency": "5"})
    assert read().stack.enrich_reserved_concurrency is None


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
    # Every key but the commented-out layer pin, alarm address and reservation has a value.
    optional = {"powertoolsLayerVersion", "alarmEmail", "enrichReservedConcurrency"}
    assert documented | optional == {
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
        "intake",
        "maxBulkEvents",
        "providerUrl",
        "enrichBatchSize",
        "enrichConcurrency",
        "enrichReservedConcurrency",
        "maxInlineProducts",
        "queueAgeAlarmSeconds",
        "alarmEmail",
    }
    # The example shows the defaults (but for deletion protection).
    assert config.stack == StackConfig(prefix="stepflow-dev", region="eu-west-1")
    assert config.infra == InfraSettings(deletion_protection=False)
