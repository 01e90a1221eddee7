"""The vocabulary of the stack description: what exists, never how it is provisioned.

Both backends (the Pulumi program under ``infra/`` and the local runtime under ``local/``)
read these frozen records and declare nothing of their own, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol, TypeVar

from functions._shared.names import METRICS_NAMESPACE

# Powertools reads these; the description sets them for every function (``function_environment``).
POWERTOOLS_SERVICE_NAME_ENV: Final = "POWERTOOLS_SERVICE_NAME"
POWERTOOLS_METRICS_NAMESPACE_ENV: Final = "POWERTOOLS_METRICS_NAMESPACE"
POWERTOOLS_LOG_LEVEL_ENV: Final = "POWERTOOLS_LOG_LEVEL"
DEAD_LETTER_QUEUE_SUFFIX: Final = "-dlq"
# moto's account: the one the local runtime runs as, and the description's until a backend says
# otherwise (``infra.config.read_config`` puts the deploying account here).
LOCAL_ACCOUNT_ID: Final = "123456789012"


class Access(StrEnum):
    """What a function may do to a resource; each backend turns it into permissions.

    For queues READ means receive and delete, WRITE means send.
    """

    READ = "read"
    WRITE = "write"
    READ_WRITE = "read_write"


class HttpMethod(StrEnum):
    GET = "GET"
    POST = "POST"


class Authorization(StrEnum):
    """Who may call a route: anyone, a SigV4-signed IAM principal, or a bearer of a valid JWT."""

    NONE = "NONE"
    IAM = "IAM"
    JWT = "JWT"


class WorkflowType(StrEnum):
    STANDARD = "STANDARD"
    EXPRESS = "EXPRESS"


class Intake(StrEnum):
    """How ``POST /events`` hands events to the ingest workflow.

    ``queued``: the API acknowledges once the ingest queue holds the request, and the ingest
    pipe starts one execution per batch of requests. ``per-request``: the API starts one
    execution per request (the original design, kept so benchmarks can compare the two).
    """

    QUEUED = "queued"
    PER_REQUEST = "per-request"


@dataclass(frozen=True)
class IndexSpec:
    name: str
    partition_key: str
    sort_key: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """A DynamoDB table with string keys, billed on demand and encrypted at rest."""

    name: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None
    point_in_time_recovery: bool = True
    indexes: tuple[IndexSpec, ...] = ()


@dataclass(frozen=True)
class QueueSpec:
    """An SQS queue; ``max_receive_count`` > 0 gives it a dead-letter queue named ``<name>-dlq``.

    ``max_message_bytes`` caps a message's size (SQS's ``MaximumMessageSize``); ``None`` keeps
    SQS's default, 1 MiB for queues created since August 2025.
    """

    name: str
    visibility_timeout_seconds: int = 60
    message_retention_seconds: int = 1_209_600
    max_receive_count: int = 5
    max_message_bytes: int | None = None

    @property
    def dead_letter_queue(self) -> str | None:
        """The logical name of the dead-letter queue, or ``None`` when the queue does not redrive.

        >>> QueueSpec("ingest").dead_letter_queue
        'ingest-dlq'
        >>> QueueSpec("scratch", max_receive_count=0).dead_letter_queue is None
        True
        """
        if self.max_receive_count <= 0:
            return None
        return self.name + DEAD_LETTER_QUEUE_SUFFIX


@dataclass(frozen=True)
class BucketSpec:
    """A private, encrypted, TLS-only S3 bucket; ``expire_after_days`` adds a lifecycle rule."""

    name: str
    expire_after_days: int | None = None
    versioned: bool = False


@dataclass(frozen=True)
class SecretSpec:
    """A Secrets Manager secret; its value is set out of band (never in the stack)."""

    name: str
    description: str


@dataclass(frozen=True)
class BucketNotificationSpec:
    """Object-created notifications of ``bucket`` delivered to ``queue``."""

    bucket: str
    queue: str
    prefix: str = ""


@dataclass(frozen=True)
class PipeSpec:
    """An EventBridge Pipe from an SQS queue to a workflow (``FIRE_AND_FORGET``).

    The batch (up to ``batch_size`` records, waiting up to ``batching_window_seconds``) is the
    execution input, as a JSON array of SQS records, exactly as Pipes deliver it.

    ``filter_patterns`` are the pipe's filter criteria (``FilterCriteria.Filters[].Pattern``):
    EventBridge event patterns as JSON strings, matched against each SQS record in the shape
    Pipes deliver it, its ``body`` parsed when it is a JSON object. With filters, a message
    matching none of them is deleted from the queue without starting the target; with none,
    every message is delivered. At most 5; the local runtime refuses operators it does not
    implement (see ``local.pipe_filter``).

    ``enrichment_function`` names a function the pipe invokes synchronously with each (filtered)
    batch before the target; its answer is the execution input, and its failure leaves the batch
    on the queue for redelivery.
    """

    name: str
    source_queue: str
    target_workflow: str
    batch_size: int = 10
    batching_window_seconds: int = 0
    filter_patterns: tuple[str, ...] = ()
    enrichment_function: str | None = None


@dataclass(frozen=True)
class RouteSpec:
    """``method path`` served by ``function`` through a Lambda proxy integration (payload 2.0).

    ``authorization`` is IAM (SigV4) unless the route says otherwise; a JWT route needs its
    API's ``jwt_authorizer``, and when it names ``scopes`` a token must carry one of them.
    """

    method: HttpMethod
    path: str
    function: str
    authorization: Authorization = Authorization.IAM
    scopes: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """API Gateway's route key, which the local front door logs and sends alike.

        >>> RouteSpec(HttpMethod.POST, "/events", "api").key
        'POST /events'
        """
        return f"{self.method.value} {self.path}"


@dataclass(frozen=True)
class JwtAuthorizerSpec:
    """How an API checks the JWT of its ``Authorization.JWT`` routes: who issues the tokens and
    which audiences they must name.

    With ``user_pool`` (the logical name of the stack's :class:`UserPoolSpec`) the issuer is
    that pool and the audience its app client, both known only once a backend created them;
    otherwise ``issuer`` and ``audiences`` name an identity provider outside the stack.
    """

    issuer: str = ""
    audiences: tuple[str, ...] = ()
    identity_source: str = "$request.header.Authorization"
    user_pool: str | None = None


@dataclass(frozen=True)
class AccessPolicySpec:
    """An IAM managed policy for a kind of system caller outside the stack.

    ``routes`` (route keys of IAM routes) become ``execute-api:Invoke`` on those routes only;
    ``operated_workflows`` add reading, stopping and redriving those workflows' executions.
    Attach the policy to the caller's own role or user.
    """

    name: str
    description: str
    routes: tuple[str, ...]
    operated_workflows: tuple[str, ...] = ()


@dataclass(frozen=True)
class UserPoolSpec:
    """A Cognito user pool for the people who call JWT routes, and its one app client.

    People sign in with ``InitiateAuth`` ``USER_PASSWORD_AUTH`` on the app client (no client
    secret: a browser or a CLI cannot keep one). ``demo_username`` is created, with a password
    only the local runtime knows, by the local runtime only: a deployed pool has no users until
    someone signs them up.
    """

    name: str
    client: str = "web"
    demo_username: str | None = "demo"


@dataclass(frozen=True)
class ApiSpec:
    """An HTTP API; ``throttle_*`` apply to its default stage."""

    name: str
    routes: tuple[RouteSpec, ...]
    throttle_rate_per_second: float = 100.0
    throttle_burst: int = 200
    jwt_authorizer: JwtAuthorizerSpec | None = None


@dataclass(frozen=True)
class CircuitBreakerSpec:
    """The function that guards a downstream with a circuit breaker, and the table it keeps the
    breaker's state in; the backends alarm on its ``CircuitBreakerOpen`` metric."""

    function: str
    table: str


@dataclass(frozen=True)
class TableGrant:
    """A function's access to a table, and the environment variable that carries its name."""

    table: str
    access: Access
    env_var: str


@dataclass(frozen=True)
class BucketGrant:
    bucket: str
    access: Access
    env_var: str


@dataclass(frozen=True)
class QueueGrant:
    """Access to a queue; the environment variable carries the queue URL."""

    queue: str
    access: Access
    env_var: str


@dataclass(frozen=True)
class SecretGrant:
    """Read access to a secret; the environment variable carries its name, never its value."""

    secret: str
    env_var: str


@dataclass(frozen=True)
class WorkflowGrant:
    """Permission to start a workflow; the environment variable carries its state machine ARN."""

    workflow: str
    env_var: str


@dataclass(frozen=True)
class FunctionSpec:
    """A Lambda: where its code lives and what it may touch.

    ``handler`` is a dotted path importable from the repository root, e.g.
    ``functions.validate.handler.lambda_handler``; the deployment package holds ``functions/``.
    """

    name: str
    handler: str
    description: str
    memory_mb: int = 256
    timeout_seconds: int = 30
    reserved_concurrency: int | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    tables: tuple[TableGrant, ...] = ()
    buckets: tuple[BucketGrant, ...] = ()
    queues: tuple[QueueGrant, ...] = ()
    secrets: tuple[SecretGrant, ...] = ()
    workflows: tuple[WorkflowGrant, ...] = ()

    @property
    def code_dir(self) -> str:
        """The folder under ``functions/`` that holds this Lambda (``functions/<dir>``)."""
        return self.handler.split(".")[1]


class Definition(Protocol):
    """A state machine definition that renders to plain ASL once function ARNs are known.

    ``function_arn`` may return a plain string (local runtime, snapshots) or a Pulumi
    ``Output`` (AWS): the rendered dict is serialised by whoever owns the values.
    """

    def render(self, function_arn: Callable[[str], Any]) -> dict[str, Any]: ...

    def referenced_functions(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    description: str
    definition: Definition
    type: WorkflowType = WorkflowType.STANDARD


EXECUTION_EVENT_SOURCE: Final = "aws.states"
EXECUTION_STATUS_CHANGE: Final = "Step Functions Execution Status Change"
UNSUCCESSFUL_EXECUTION_STATUSES: Final = ("FAILED", "TIMED_OUT", "ABORTED")


@dataclass(frozen=True)
class ExecutionStatusRuleSpec:
    """An EventBridge rule on the status changes of ``workflows``' executions ending in one of
    ``statuses``, delivering each event to ``target_function``.

    EventBridge retries a failed delivery for up to ``maximum_event_age_seconds`` (at most
    ``maximum_retry_attempts`` times); what it still cannot deliver goes to the queue
    ``dead_letter_queue`` (a queue of the description, without a dead-letter queue of its own),
    as does an invocation the target failed after Lambda's own asynchronous retries, so no
    outcome is lost on the way to the status record. The local runtime emits the same events
    when its executions end and delivers them the same way.
    """

    name: str
    workflows: tuple[str, ...]
    target_function: str
    dead_letter_queue: str
    statuses: tuple[str, ...] = UNSUCCESSFUL_EXECUTION_STATUSES
    maximum_retry_attempts: int = 185
    maximum_event_age_seconds: int = 86_400

    def pattern(self, state_machine_arn: Callable[[str], Any]) -> dict[str, Any]:
        """The rule's event pattern once the state machines' ARNs are known (a plain string
        locally, a Pulumi ``Output`` on AWS).

        >>> rule = ExecutionStatusRuleSpec("outcomes", ("ingest",), "update_status", "dlq")
        >>> rule.pattern(lambda name: f"arn:{name}")["detail"]
        {'status': ['FAILED', 'TIMED_OUT', 'ABORTED'], 'stateMachineArn': ['arn:ingest']}
        """
        return {
            "source": [EXECUTION_EVENT_SOURCE],
            "detail-type": [EXECUTION_STATUS_CHANGE],
            "detail": {
                "status": list(self.statuses),
                "stateMachineArn": [state_machine_arn(name) for name in self.workflows],
            },
        }


@dataclass(frozen=True)
class StackConfig:
    """Settings a user may change per stack (``Pulumi.<stack>.yaml`` or the local CLI).

    ``account_id`` and ``region`` are where the stack lives; bucket names carry both
    (:meth:`App.bucket_name`). ``enrich_reserved_concurrency`` reserves Lambda concurrency for
    enrich_batch only when set: a reservation must leave the account 100 unreserved executions,
    which a new account (often limited to 10) cannot.
    """

    prefix: str = "stepflow-dev"
    region: str = "us-east-1"
    account_id: str = LOCAL_ACCOUNT_ID
    log_level: str = "INFO"
    dedupe_ttl_days: int = 7
    workflow_type: WorkflowType = WorkflowType.STANDARD
    point_in_time_recovery: bool = True
    max_receive_count: int = 5
    # Where bundles go. Locally the runtime starts its own endpoint and overrides this.
    downstream_url: str = "https://downstream.example.com/ingest"
    circuit_failure_threshold: int = 5
    circuit_cooldown_seconds: int = 300
    park_checks: int = 3
    ingest_batch_size: int = 10
    ingest_batching_window_seconds: int = 1
    intake: Intake = Intake.QUEUED
    max_bulk_events: int = 100
    # Where products are enriched. Locally the runtime starts its own provider and overrides this.
    provider_url: str = "https://provider.example.com"
    enrich_batch_size: int = 20
    enrich_concurrency: int = 10
    enrich_reserved_concurrency: int | None = None
    max_inline_products: int = 1000
    # A dead-lettered message redriven more often than this is set aside, not redriven again.
    max_dlq_redrives: int = 3


def bucket_name(config: StackConfig, logical_name: str) -> str:
    """A bucket's physical name for ``config`` (see :meth:`App.bucket_name`)."""
    return f"{config.prefix}-{logical_name}-{config.account_id}-{config.region}"


@dataclass(frozen=True)
class App:
    """Everything the stack holds. Built once by :func:`stack.app.build_app`."""

    config: StackConfig
    functions: tuple[FunctionSpec, ...]
    tables: tuple[TableSpec, ...]
    queues: tuple[QueueSpec, ...]
    buckets: tuple[BucketSpec, ...]
    workflows: tuple[WorkflowSpec, ...]
    secrets: tuple[SecretSpec, ...] = ()
    pipes: tuple[PipeSpec, ...] = ()
    notifications: tuple[BucketNotificationSpec, ...] = ()
    api: ApiSpec | None = None
    circuit_breaker: CircuitBreakerSpec | None = None
    execution_status_rules: tuple[ExecutionStatusRuleSpec, ...] = ()
    user_pool: UserPoolSpec | None = None
    access_policies: tuple[AccessPolicySpec, ...] = ()

    def physical_name(self, logical_name: str) -> str:
        """The name a resource carries on AWS and locally alike (buckets: :meth:`bucket_name`)."""
        return f"{self.config.prefix}-{logical_name}"

    def bucket_name(self, logical_name: str) -> str:
        """A bucket's name: unique across AWS by construction, since S3 names are global.

        The account id and region make two users (or two regions of one account) with the same
        prefix name different buckets; the prefix tells stacks of one account apart.

        >>> from stack.app import build_app
        >>> build_app(StackConfig(prefix="stepflow-dev", account_id="111122223333",
        ...                       region="eu-west-1")).bucket_name("landing")
        'stepflow-dev-landing-111122223333-eu-west-1'
        """
        return bucket_name(self.config, logical_name)

    @property
    def metrics_namespace(self) -> str:
        """The CloudWatch namespace of the stack's custom metrics: one per stack, so that two
        stacks of one account and region never count (or alarm on) each other's metrics.

        >>> from stack.app import build_app
        >>> build_app(StackConfig(prefix="stepflow-dev")).metrics_namespace
        'Stepflow/stepflow-dev'
        """
        return f"{METRICS_NAMESPACE}/{self.config.prefix}"

    def function(self, name: str) -> FunctionSpec:
        return _by_name(self.functions, name)

    def table(self, name: str) -> TableSpec:
        return _by_name(self.tables, name)

    def workflow(self, name: str) -> WorkflowSpec:
        return _by_name(self.workflows, name)

    def queue(self, name: str) -> QueueSpec:
        return _by_name(self.queues, name)

    def bucket(self, name: str) -> BucketSpec:
        return _by_name(self.buckets, name)

    def function_environment(self, function: FunctionSpec) -> dict[str, str]:
        """Powertools' settings, the function's own, and the physical names of what it was granted.

        Queue URLs and state machine ARNs depend on the backend, so they are left to it:
        see :meth:`backend_references`.
        """
        env = {
            POWERTOOLS_SERVICE_NAME_ENV: function.name,
            POWERTOOLS_METRICS_NAMESPACE_ENV: self.metrics_namespace,
            POWERTOOLS_LOG_LEVEL_ENV: self.config.log_level,
            **function.environment,
        }
        for grant in function.tables:
            env[grant.env_var] = self.physical_name(grant.table)
        for bucket_grant in function.buckets:
            env[bucket_grant.env_var] = self.bucket_name(bucket_grant.bucket)
        for secret_grant in function.secrets:
            env[secret_grant.env_var] = self.physical_name(secret_grant.secret)
        return env

    def backend_references(self, function: FunctionSpec) -> dict[str, tuple[str, str]]:
        """Environment variables a backend fills in: ``{env_var: (kind, logical name)}``.

        ``kind`` is ``"queue_url"`` or ``"state_machine_arn"``.
        """
        refs = {g.env_var: ("queue_url", g.queue) for g in function.queues}
        refs |= {g.env_var: ("state_machine_arn", g.workflow) for g in function.workflows}
        return refs


class _Named(Protocol):
    @property
    def name(self) -> str: ...


_NamedT = TypeVar("_NamedT", bound=_Named)


def _by_name(items: tuple[_NamedT, ...], name: str) -> _NamedT:
    for item in items:
        if item.name == name:
            return item
    known = ", ".join(item.name for item in items)
    raise KeyError(f"no {name!r} in the stack (known: {known})")
