"""Read the Pulumi stack configuration (``Pulumi.<stack>.yaml``) into typed settings.

Two records come out: the :class:`~stack.spec.StackConfig` that the local runtime reads too (it
shapes the description itself), and :class:`InfraSettings`, which only the AWS backend has a use
for (log retention, deletion protection, the Powertools layer). Every key is documented in
``Pulumi.dev.yaml.example``; a bad value, or a combination the stack cannot honour, fails the
preview with the key's name instead of surfacing later as an AWS validation error.

:func:`parse_config` does the work from any source of values, so the preflight
(:mod:`infra.preflight`) reads ``Pulumi.<stack>.yaml`` with the very same rules before anything
exists, and :func:`read_stack_file` is how the local runtime (``python -m local up --stack dev``)
reads the same file, so one file configures both backends.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeVar

import pulumi
import pulumi_aws as aws

from functions._shared.enrichment import MAX_BATCH_SIZE, MIN_BATCH_SIZE
from stack.spec import Intake, StackConfig, WorkflowType

# Powertools' log levels; the Lambda logging config maps them to its own (see infra.function).
LOG_LEVELS: Final = frozenset({"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"})

# The only values CloudWatch Logs accepts; 0 means "never expire".
LOG_RETENTION_DAYS: Final = frozenset(
    {0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557}
    | {2922, 3288, 3653}
)

STATE_MACHINE_LOG_LEVELS: Final = frozenset({"ALL", "ERROR", "FATAL", "OFF"})

# Lowercase so that the prefix also suits S3 bucket names; short enough that the longest name
# built from it (an autonamed IAM role, 64 characters at most) still fits.
_PREFIX = re.compile(r"[a-z0-9][a-z0-9-]{0,29}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
# What a Pipe accepts from an SQS source: batches of 1-10,000 records, windows up to 5 minutes.
MAX_PIPE_BATCH_SIZE: Final = 10_000
MAX_BATCHING_WINDOW_SECONDS: Final = 300
# What the api Lambda accepts from its environment (functions/api/core.py, ApiSettings): a value
# above these would deploy, then fail every cold start of the api.
MAX_BULK_EVENTS: Final = 10_000
MAX_INLINE_PRODUCTS: Final = 100_000
# enrichConcurrency is the MaxConcurrency of the enrich workflow's Map, which runs at most 40
# iterations at a time in INLINE mode.
MAX_ENRICH_CONCURRENCY: Final = 40
# The longest an Express execution may run. Parked deliveries wait parkChecks cooldowns, and a
# failed Express execution cannot be redriven.
EXPRESS_MAX_SECONDS: Final = 300
_INTAKES: Final = frozenset(intake.value for intake in Intake)

# A full config key ("stepflow:prefix", "aws:region") to its value as text, None when unset.
ConfigValues = Callable[[str], str | None]


_T = TypeVar("_T")
_PROJECT_NAMESPACE: Final = "stepflow"


class ConfigError(ValueError):
    """A stack configuration value that the program cannot deploy."""


@dataclass(frozen=True)
class InfraSettings:
    """Settings of the AWS backend only.

    ``powertools_layer_version`` pins the public Powertools layer by its layer version number;
    ``None`` resolves the layer that holds exactly the Powertools release pinned in
    ``functions/requirements.txt`` (see :mod:`infra.packaging`). ``alarm_email`` subscribes an
    address to the alarms' SNS topic (none: no topic); ``queue_age_alarm_seconds`` is the age of
    a queue's oldest message that raises its alarm. ``deletion_protection`` off also lets
    ``pulumi destroy`` empty buckets and delete secrets without their recovery window.
    """

    log_retention_days: int = 30
    deletion_protection: bool = True
    powertools_layer_version: int | None = None
    # Errors only, without execution data: inputs and outputs carry payloads (names, VINs)
    # that must not land in CloudWatch unless a stack asks (logExecutionData).
    state_machine_log_level: str = "ERROR"
    log_execution_data: bool = False
    alarm_email: str | None = None
    queue_age_alarm_seconds: int = 300


@dataclass(frozen=True)
class DeployConfig:
    """Everything ``__main__`` needs: the description's config and the AWS-only settings."""

    stack: StackConfig
    infra: InfraSettings


def read_config() -> DeployConfig:
    """Read the current stack's configuration; defaults match ``StackConfig``'s.

    The account id comes from the deploying credentials (``GetCallerIdentity``): bucket names
    carry it (:meth:`stack.spec.App.bucket_name`).
    """

    def value(key: str) -> str | None:
        namespace, name = key.split(":", 1)
        return pulumi.Config(namespace).get(name)

    return parse_config(
        value,
        project=pulumi.get_project(),
        stack=pulumi.get_stack(),
        account_id=aws.get_caller_identity().account_id,
    )


def read_stack_file(
    root: Path, stack: str, *, account_id: str, default_region: str
) -> DeployConfig:
    """``<root>/Pulumi.<stack>.yaml`` read with :func:`parse_config`'s rules, as ``pulumi up``
    would read it; ``default_region`` stands in for a missing ``aws:region`` (or file).
    """
    import yaml  # type: ignore[import-untyped]  # PyYAML ships no stubs

    from infra.preflight import stack_values  # preflight imports this module: import late

    project = str(yaml.safe_load((root / "Pulumi.yaml").read_text(encoding="utf-8"))["name"])
    values = stack_values(root / f"Pulumi.{stack}.yaml", default_region)
    return parse_config(values.get, project=project, stack=stack, account_id=account_id)


def parse_config(
    values: ConfigValues, *, project: str, stack: str, account_id: str
) -> DeployConfig:
    """Typed, checked settings from ``values`` (``"stepflow:<key>"`` and ``"aws:region"``).

    Raises :class:`ConfigError` naming the key of the first bad value or combination.
    """

    def text(key: str, default: str) -> str:
        return values(f"{_PROJECT_NAMESPACE}:{key}") or default

    def integer(key: str, default: int) -> int:
        raw = values(f"{_PROJECT_NAMESPACE}:{key}")
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{key} is {raw!r}; expected an integer") from None

    def boolean(key: str, default: bool) -> bool:
        raw = values(f"{_PROJECT_NAMESPACE}:{key}")
        if raw is None or raw == "":
            return default
        if raw.lower() not in {"true", "false"}:
            raise ConfigError(f"{key} is {raw!r}; expected true or false")
        return raw.lower() == "true"

    def choice(key: str, default: str, allowed: frozenset[str]) -> str:
        return _one_of(key, text(key, default).upper(), allowed)

    def positive(key: str, default: int) -> int:
        return _positive(key, integer(key, default))

    def between(key: str, default: int, low: int, high: int) -> int:
        return _between(key, integer(key, default), low, high)

    def https(key: str, default: str) -> str:
        return _https(key, text(key, default))

    def optional_positive(key: str) -> int | None:
        unset = values(f"{_PROJECT_NAMESPACE}:{key}") in (None, "")
        return None if unset else _positive(key, integer(key, 0))

    region = values("aws:region")
    if not region:
        raise ConfigError("aws:region is required: `pulumi config set aws:region <region>`")
    defaults = StackConfig()
    stack_config = StackConfig(
        prefix=_check_prefix(text("prefix", "") or f"{project}-{stack}"),
        region=region,
        account_id=account_id,
        log_level=choice("logLevel", defaults.log_level, LOG_LEVELS),
        dedupe_ttl_days=positive("dedupeTtlDays", defaults.dedupe_ttl_days),
        workflow_type=WorkflowType(
            choice("workflowType", defaults.workflow_type.value, frozenset(WorkflowType))
        ),
        point_in_time_recovery=boolean("pointInTimeRecovery", defaults.point_in_time_recovery),
        max_receive_count=positive("maxReceiveCount", defaults.max_receive_count),
        downstream_url=https("downstreamUrl", defaults.downstream_url),
        circuit_failure_threshold=positive(
            "circuitFailureThreshold", defaults.circuit_failure_threshold
        ),
        circuit_cooldown_seconds=positive(
            "circuitCooldownSeconds", defaults.circuit_cooldown_seconds
        ),
        park_checks=positive("parkChecks", defaults.park_checks),
        ingest_batch_size=between(
            "ingestBatchSize", defaults.ingest_batch_size, 1, MAX_PIPE_BATCH_SIZE
        ),
        ingest_batching_window_seconds=between(
            "ingestBatchingWindowSeconds",
            defaults.ingest_batching_window_seconds,
            0,
            MAX_BATCHING_WINDOW_SECONDS,
        ),
        intake=Intake(_one_of("intake", text("intake", defaults.intake).lower(), _INTAKES)),
        max_bulk_events=between("maxBulkEvents", defaults.max_bulk_events, 1, MAX_BULK_EVENTS),
        provider_url=https("providerUrl", defaults.provider_url),
        enrich_batch_size=between(
            "enrichBatchSize", defaults.enrich_batch_size, MIN_BATCH_SIZE, MAX_BATCH_SIZE
        ),
        enrich_concurrency=between(
            "enrichConcurrency", defaults.enrich_concurrency, 1, MAX_ENRICH_CONCURRENCY
        ),
        enrich_reserved_concurrency=optional_positive("enrichReservedConcurrency"),
        max_inline_products=between(
            "maxInlineProducts", defaults.max_inline_products, 1, MAX_INLINE_PRODUCTS
        ),
    )
    _check_combinations(stack_config)
    settings = InfraSettings()
    alarm_email = text("alarmEmail", "")
    infra = InfraSettings(
        log_retention_days=_one_of(
            "logRetentionDays",
            integer("logRetentionDays", settings.log_retention_days),
            LOG_RETENTION_DAYS,
        ),
        deletion_protection=boolean("deletionProtection", settings.deletion_protection),
        powertools_layer_version=optional_positive("powertoolsLayerVersion"),
        state_machine_log_level=choice(
            "stateMachineLogLevel", settings.state_machine_log_level, STATE_MACHINE_LOG_LEVELS
        ),
        log_execution_data=boolean("logExecutionData", settings.log_execution_data),
        alarm_email=None if not alarm_email else _email("alarmEmail", alarm_email),
        queue_age_alarm_seconds=positive("queueAgeAlarmSeconds", settings.queue_age_alarm_seconds),
    )
    return DeployConfig(stack=stack_config, infra=infra)


def _check_combinations(stack: StackConfig) -> None:
    """Refuse settings that are each valid but cannot work together."""
    if stack.ingest_batch_size > 10 and stack.ingest_batching_window_seconds < 1:
        # Pipes' own rule for SQS sources.
        raise ConfigError(
            f"ingestBatchSize is {stack.ingest_batch_size}: above 10 a pipe needs "
            "ingestBatchingWindowSeconds of at least 1"
        )
    parked_seconds = stack.park_checks * stack.circuit_cooldown_seconds
    if stack.workflow_type is WorkflowType.EXPRESS and parked_seconds >= EXPRESS_MAX_SECONDS:
        raise ConfigError(
            f"workflowType is EXPRESS, but a parked delivery waits parkChecks x "
            f"circuitCooldownSeconds = {stack.park_checks} x {stack.circuit_cooldown_seconds} s "
            f"= {parked_seconds} s, and an Express execution stops after "
            f"{EXPRESS_MAX_SECONDS} s; nor can a failed Express execution be redriven, so the "
            "parked bundle would never be delivered. Use workflowType STANDARD (the default), "
            f"or lower parkChecks or circuitCooldownSeconds until their product is below "
            f"{EXPRESS_MAX_SECONDS}."
        )
    reserved = stack.enrich_reserved_concurrency
    if reserved is not None and reserved < stack.enrich_concurrency:
        raise ConfigError(
            f"enrichReservedConcurrency is {reserved}, below enrichConcurrency "
            f"({stack.enrich_concurrency}): every enrichment's Map would be throttled. Reserve "
            "at least enrichConcurrency, or leave enrichReservedConcurrency unset."
        )


def _check_prefix(prefix: str) -> str:
    if not _PREFIX.fullmatch(prefix):
        raise ConfigError(
            f"prefix {prefix!r} must be 1-30 lowercase letters, digits or '-', starting with a "
            "letter or digit (set it with `pulumi config set prefix <value>`)"
        )
    return prefix


def _one_of(key: str, value: _T, allowed: frozenset[_T]) -> _T:
    if value not in allowed:
        choices = ", ".join(sorted(str(choice) for choice in allowed))
        raise ConfigError(f"{key} is {value!r}; expected one of {choices}")
    return value


def _positive(key: str, value: int) -> int:
    if value <= 0:
        raise ConfigError(f"{key} is {value}; expected a positive integer")
    return value


def _between(key: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise ConfigError(f"{key} is {value}; expected {low} to {high}")
    return value


def _https(key: str, value: str) -> str:
    # deliver sends the downstream token with every request, enrich_batch the provider's API key:
    # never in clear text.
    if not re.fullmatch(r"https://[^\s/]+(/\S*)?", value):
        raise ConfigError(f"{key} is {value!r}; expected an https:// URL")
    return value


def _email(key: str, value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ConfigError(f"{key} is {value!r}; expected an email address")
    return value
