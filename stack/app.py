"""The composition root: every function, table, queue, bucket and workflow of the stack, once."""

from __future__ import annotations

import json

from functions._shared import names
from stack.spec import (
    Access,
    AccessPolicySpec,
    ApiSpec,
    App,
    Authorization,
    BucketGrant,
    BucketNotificationSpec,
    BucketSpec,
    CircuitBreakerSpec,
    ExecutionStatusRuleSpec,
    FunctionSpec,
    HttpMethod,
    IndexSpec,
    Intake,
    JwtAuthorizerSpec,
    PipeSpec,
    QueueGrant,
    QueueSpec,
    RouteSpec,
    SecretGrant,
    SecretSpec,
    StackConfig,
    TableGrant,
    TableSpec,
    UserPoolSpec,
    WorkflowGrant,
    WorkflowSpec,
    WorkflowType,
    bucket_name,
)
from workflows.aggregate import aggregate_definition
from workflows.enrich import enrich_definition
from workflows.ingest import ingest_definition
from workflows.redrive_parked import redrive_parked_definition

_DAY_SECONDS = 86_400
_PRODUCER_ROUTES = ("POST /events", "POST /events/bulk", "GET /events/{trackingId}")
_OPERATOR_ROUTES = (
    "GET /ops/queues",
    "POST /ops/queues/{queueName}/redrive",
    "GET /ops/queues/{queueName}/redrive",
    "POST /ops/queues/{queueName}/redrive/cancel",
    "GET /ops/executions",
    "POST /ops/executions/redrive",
    "GET /ops/breaker",
    "POST /ops/breaker",
    "POST /ops/replay",
    "GET /ops/health",
)
_MAX_INGEST_MESSAGE_BYTES = 262_144


def physical_name(config: StackConfig, logical_name: str) -> str:
    """:meth:`App.physical_name` before the App exists (functions are handed names)."""
    return f"{config.prefix}-{logical_name}"


def build_app(config: StackConfig | None = None) -> App:
    """Describe the whole stack for ``config``; both backends consume the result unchanged."""
    config = config or StackConfig()

    tables = (
        TableSpec(
            name="dedupe",
            partition_key=names.DEDUPE_KEY,
            ttl_attribute=names.DEDUPE_EXPIRY_ATTRIBUTE,
            point_in_time_recovery=config.point_in_time_recovery,
        ),
        TableSpec(
            name="status",
            partition_key=names.STATUS_KEY,
            point_in_time_recovery=config.point_in_time_recovery,
        ),
        TableSpec(
            name="circuit",
            partition_key=names.CIRCUIT_KEY,
            point_in_time_recovery=config.point_in_time_recovery,
        ),
        TableSpec(
            name="enrichment-status",
            partition_key=names.ENRICHMENT_KEY,
            sort_key=names.ENRICHMENT_SORT_KEY,
            indexes=(
                IndexSpec(
                    name=names.ENRICHMENT_USER_INDEX,
                    partition_key=names.ENRICHMENT_USER_KEY,
                    sort_key=names.ENRICHMENT_CREATED_KEY,
                ),
            ),
            point_in_time_recovery=config.point_in_time_recovery,
        ),
        TableSpec(
            name="products",
            partition_key=names.PRODUCTS_KEY,
            sort_key=names.PRODUCTS_SORT_KEY,
            point_in_time_recovery=config.point_in_time_recovery,
        ),
        TableSpec(
            name="redrives",
            partition_key=names.REDRIVES_KEY,
            ttl_attribute=names.REDRIVES_EXPIRY_ATTRIBUTE,
            point_in_time_recovery=config.point_in_time_recovery,
        ),
        TableSpec(
            name="idempotency",
            partition_key=names.IDEMPOTENCY_KEY,
            ttl_attribute=names.IDEMPOTENCY_EXPIRY_ATTRIBUTE,
            point_in_time_recovery=False,
        ),
    )

    buckets = (
        BucketSpec(name="landing"),
        BucketSpec(name="staging", expire_after_days=7),
        BucketSpec(name="archive", versioned=True),
        # Rejected inputs, verbatim, until an operator resolves them: no expiry (staging's 7 days
        # could drop one before anyone looked), see functions/_shared/quarantine.py.
        BucketSpec(name="quarantine"),
    )
    queues = (
        QueueSpec(
            name="ingest",
            visibility_timeout_seconds=60,
            max_receive_count=config.max_receive_count,
            # A batch of 10 such messages stays under the 6 MB a synchronous Lambda invocation
            # (the pipe's claim_check enrichment) accepts; SQS's 1 MiB default would not.
            max_message_bytes=_MAX_INGEST_MESSAGE_BYTES,
        ),
        QueueSpec(
            name="landing-notifications",
            visibility_timeout_seconds=60,
            max_receive_count=config.max_receive_count,
        ),
        # Outcome events EventBridge could not deliver, and update_status invocations that
        # failed on them: kept as long as SQS allows, for an operator to replay.
        QueueSpec(
            name="execution-outcomes-dlq",
            message_retention_seconds=1_209_600,
            max_receive_count=0,
        ),
    )
    secrets = (
        SecretSpec(
            name="downstream",
            description='Credentials of the downstream endpoint, as {"token": "..."}',
        ),
        SecretSpec(
            name="provider",
            description='API key of the enrichment provider, as {"apiKey": "..."}',
        ),
    )
    circuit_env = {
        names.CIRCUIT_FAILURE_THRESHOLD_ENV: str(config.circuit_failure_threshold),
        names.CIRCUIT_COOLDOWN_SECONDS_ENV: str(config.circuit_cooldown_seconds),
    }
    redrive_parked_env = {
        names.REDRIVE_PARKED_WORKFLOW_ENV: physical_name(config, "redrive-parked")
    }
    operated_queues = {
        physical_name(config, queue.name): (
            physical_name(config, queue.dead_letter_queue) if queue.dead_letter_queue else ""
        )
        for queue in queues
    }
    operated_workflows = {
        workflow: physical_name(config, workflow) for workflow in ("ingest", "aggregate", "enrich")
    }

    functions = (
        FunctionSpec(
            name="validate",
            handler="functions.validate.handler.lambda_handler",
            description="Parse and check events against the schema; split valid from rejected.",
            # A claim-checked batch is read back from staging; rejected messages are kept.
            buckets=(
                BucketGrant("staging", Access.READ, names.STAGING_BUCKET_ENV),
                BucketGrant("quarantine", Access.WRITE, names.QUARANTINE_BUCKET_ENV),
            ),
            # Messages whose events the output has no room for go back to the queue.
            queues=(QueueGrant("ingest", Access.WRITE, names.INGEST_QUEUE_URL_ENV),),
        ),
        FunctionSpec(
            name="claim_check",
            handler="functions.claim_check.handler.lambda_handler",
            description="Pipes enrichment: store a batch too big for a workflow, pass a pointer.",
            buckets=(BucketGrant("staging", Access.WRITE, names.STAGING_BUCKET_ENV),),
        ),
        FunctionSpec(
            name="dedupe",
            handler="functions.dedupe.handler.lambda_handler",
            description="Drop events already processed, by conditional writes with an expiry.",
            environment={
                names.DEDUPE_TTL_SECONDS_ENV: str(config.dedupe_ttl_days * _DAY_SECONDS),
            },
            tables=(
                TableGrant("dedupe", Access.READ_WRITE, names.DEDUPE_TABLE_ENV),
                # A claim held by an execution that can never deliver is handed to a re-send.
                TableGrant("status", Access.READ, names.STATUS_TABLE_ENV),
            ),
        ),
        FunctionSpec(
            name="update_status",
            handler="functions.update_status.handler.lambda_handler",
            description="Record progress and final state per tracking id, never backwards.",
            tables=(
                TableGrant("status", Access.READ_WRITE, names.STATUS_TABLE_ENV),
                TableGrant(
                    "enrichment-status", Access.READ_WRITE, names.ENRICHMENT_STATUS_TABLE_ENV
                ),
            ),
            # Lambda sends an outcome event whose invocation failed for good there, with this
            # function's role (the on-failure destination of its asynchronous invocations).
            queues=(
                QueueGrant(
                    "execution-outcomes-dlq", Access.WRITE, names.EXECUTION_OUTCOMES_DLQ_URL_ENV
                ),
            ),
        ),
        FunctionSpec(
            name="enrich_batch",
            handler="functions.enrich_batch.handler.lambda_handler",
            description="Enrich one batch of products through the provider; plan S3 catalogs.",
            timeout_seconds=120,
            # None unless the stack asks: a reservation must leave the account 100 unreserved
            # executions, which a new account cannot. The Map's MaxConcurrency
            # (enrich_concurrency) keeps each enrichment within the provider's 10 callers.
            reserved_concurrency=config.enrich_reserved_concurrency,
            environment={
                names.PROVIDER_URL_ENV: config.provider_url,
            },
            tables=(TableGrant("products", Access.READ_WRITE, names.PRODUCTS_TABLE_ENV),),
            buckets=(BucketGrant("staging", Access.READ_WRITE, names.STAGING_BUCKET_ENV),),
            secrets=(SecretGrant("provider", names.PROVIDER_SECRET_ENV),),
        ),
        FunctionSpec(
            name="bundle",
            handler="functions.bundle.handler.lambda_handler",
            description="Stream events or S3 objects into one gzip NDJSON bundle in staging.",
            memory_mb=512,
            timeout_seconds=120,
            buckets=(
                BucketGrant("staging", Access.READ_WRITE, names.STAGING_BUCKET_ENV),
                BucketGrant("landing", Access.READ, names.LANDING_BUCKET_ENV),
                BucketGrant("quarantine", Access.WRITE, names.QUARANTINE_BUCKET_ENV),
            ),
        ),
        FunctionSpec(
            name="archive",
            handler="functions.archive.handler.lambda_handler",
            description="Keep the bundle in the archive under a key derived from its content.",
            timeout_seconds=60,
            buckets=(
                BucketGrant("staging", Access.READ, names.STAGING_BUCKET_ENV),
                BucketGrant("archive", Access.READ_WRITE, names.ARCHIVE_BUCKET_ENV),
            ),
        ),
        FunctionSpec(
            name="deliver",
            handler="functions.deliver.handler.lambda_handler",
            description="POST the bundle downstream behind a DynamoDB circuit breaker.",
            timeout_seconds=60,
            environment={
                **circuit_env,
                **redrive_parked_env,
                names.DOWNSTREAM_URL_ENV: config.downstream_url,
            },
            tables=(TableGrant("circuit", Access.READ_WRITE, names.CIRCUIT_TABLE_ENV),),
            buckets=(BucketGrant("archive", Access.READ, names.ARCHIVE_BUCKET_ENV),),
            secrets=(SecretGrant("downstream", names.DOWNSTREAM_SECRET_ENV),),
        ),
        FunctionSpec(
            name="api",
            handler="functions.api.handler.lambda_handler",
            description="The HTTP API: validate requests, start workflows, answer statuses.",
            timeout_seconds=29,
            environment={
                names.MAX_BULK_EVENTS_ENV: str(config.max_bulk_events),
                names.MAX_INLINE_PRODUCTS_ENV: str(config.max_inline_products),
                names.ENRICH_BATCH_SIZE_ENV: str(config.enrich_batch_size),
                names.INTAKE_ENV: Intake(config.intake).value,
                # Only the name, no access: a catalog pointer must lie under its owner's
                # upload prefix in this bucket.
                names.STAGING_BUCKET_ENV: bucket_name(config, "staging"),
            },
            tables=(
                TableGrant("status", Access.READ_WRITE, names.STATUS_TABLE_ENV),
                TableGrant("idempotency", Access.READ_WRITE, names.IDEMPOTENCY_TABLE_ENV),
                TableGrant(
                    "enrichment-status", Access.READ_WRITE, names.ENRICHMENT_STATUS_TABLE_ENV
                ),
            ),
            # Queued, the api only sends to the ingest queue: the pipe starts the executions.
            queues=_ingest_queue_grant(config),
            workflows=(
                *_ingest_workflow_grant(config),
                WorkflowGrant("enrich", names.ENRICH_STATE_MACHINE_ENV),
            ),
        ),
        FunctionSpec(
            name="operations",
            handler="functions.operations.handler.lambda_handler",
            description="Operations: queues, dead letters, parked work, breaker, replay, health.",
            timeout_seconds=60,
            environment={
                **circuit_env,
                **redrive_parked_env,
                names.DOWNSTREAM_URL_ENV: config.downstream_url,
                names.OPERATED_QUEUES_ENV: json.dumps(operated_queues),
                names.OPERATED_WORKFLOWS_ENV: json.dumps(operated_workflows),
                names.MAX_DLQ_REDRIVES_ENV: str(config.max_dlq_redrives),
            },
            tables=(
                TableGrant("circuit", Access.READ_WRITE, names.CIRCUIT_TABLE_ENV),
                TableGrant("redrives", Access.READ_WRITE, names.REDRIVES_TABLE_ENV),
                TableGrant("status", Access.READ, names.STATUS_TABLE_ENV),
                TableGrant("dedupe", Access.READ, names.DEDUPE_TABLE_ENV),
            ),
            buckets=(
                BucketGrant("archive", Access.READ, names.ARCHIVE_BUCKET_ENV),
                BucketGrant("landing", Access.READ, names.LANDING_BUCKET_ENV),
                BucketGrant("staging", Access.READ, names.STAGING_BUCKET_ENV),
            ),
            secrets=(SecretGrant("downstream", names.DOWNSTREAM_SECRET_ENV),),
        ),
    )

    workflows = (
        WorkflowSpec(
            name="ingest",
            description="Events in: validate, dedupe, bundle, archive, deliver, record status.",
            definition=ingest_definition(config),
            type=config.workflow_type,
        ),
        WorkflowSpec(
            name="aggregate",
            description="Objects landed in S3; dedupe, bundle, archive and deliver them.",
            definition=aggregate_definition(config),
            type=config.workflow_type,
        ),
        WorkflowSpec(
            name="enrich",
            description="A catalog enriched in batches through the provider, with live progress.",
            definition=enrich_definition(config),
            # A catalog with provider retries outlives Express's 5 minutes: always Standard.
            type=WorkflowType.STANDARD,
        ),
        WorkflowSpec(
            name="redrive-parked",
            description="The breaker closed: redrive every parked execution.",
            definition=redrive_parked_definition(),
            # RedriveExecution and the history an operator reads need Standard.
            type=WorkflowType.STANDARD,
        ),
    )

    return App(
        config=config,
        functions=functions,
        tables=tables,
        queues=queues,
        buckets=buckets,
        workflows=workflows,
        secrets=secrets,
        pipes=(
            PipeSpec(
                name="ingest",
                source_queue="ingest",
                target_workflow="ingest",
                batch_size=config.ingest_batch_size,
                batching_window_seconds=config.ingest_batching_window_seconds,
                enrichment_function="claim_check",
            ),
            PipeSpec(
                name="aggregate",
                source_queue="landing-notifications",
                target_workflow="aggregate",
                batch_size=config.ingest_batch_size,
                batching_window_seconds=config.ingest_batching_window_seconds,
                # S3 sends an s3:TestEvent ({"Service": "Amazon S3", "Event": "s3:TestEvent",
                # ...}) when the bucket notification is configured; real notifications carry
                # "Records" and no "Event". Without this filter the test event would start an
                # aggregate execution that only records "the batch held no events".
                filter_patterns=('{"body": {"Event": [{"exists": false}]}}',),
                enrichment_function="claim_check",
            ),
        ),
        notifications=(BucketNotificationSpec(bucket="landing", queue="landing-notifications"),),
        api=ApiSpec(
            name="api",
            routes=(
                RouteSpec(HttpMethod.POST, "/events", "api"),
                RouteSpec(HttpMethod.POST, "/events/bulk", "api"),
                RouteSpec(HttpMethod.GET, "/events/{trackingId}", "api"),
                # They reveal nothing a caller could not read in the repository.
                RouteSpec(HttpMethod.GET, "/health", "api", Authorization.NONE),
                RouteSpec(HttpMethod.GET, "/openapi.json", "api", Authorization.NONE),
                # People, not systems: the owner of a catalog is the token's subject.
                RouteSpec(
                    HttpMethod.POST, "/catalogs/{catalogId}/enrichments", "api", Authorization.JWT
                ),
                RouteSpec(
                    HttpMethod.GET,
                    "/catalogs/{catalogId}/enrichments/{trackingId}",
                    "api",
                    Authorization.JWT,
                ),
                RouteSpec(HttpMethod.GET, "/users/{userId}/enrichments", "api", Authorization.JWT),
                # Operators (IAM) only; the documentation is public like /openapi.json.
                RouteSpec(HttpMethod.GET, "/ops/queues", "operations"),
                RouteSpec(HttpMethod.POST, "/ops/queues/{queueName}/redrive", "operations"),
                RouteSpec(HttpMethod.GET, "/ops/queues/{queueName}/redrive", "operations"),
                RouteSpec(HttpMethod.POST, "/ops/queues/{queueName}/redrive/cancel", "operations"),
                RouteSpec(HttpMethod.GET, "/ops/executions", "operations"),
                RouteSpec(HttpMethod.POST, "/ops/executions/redrive", "operations"),
                RouteSpec(HttpMethod.GET, "/ops/breaker", "operations"),
                RouteSpec(HttpMethod.POST, "/ops/breaker", "operations"),
                RouteSpec(HttpMethod.POST, "/ops/replay", "operations"),
                RouteSpec(HttpMethod.GET, "/ops/health", "operations"),
                RouteSpec(HttpMethod.GET, "/ops/openapi.json", "operations", Authorization.NONE),
                RouteSpec(HttpMethod.GET, "/docs", "operations", Authorization.NONE),
                RouteSpec(HttpMethod.GET, "/docs/{asset}", "operations", Authorization.NONE),
            ),
            jwt_authorizer=JwtAuthorizerSpec(user_pool="users"),
        ),
        user_pool=UserPoolSpec(name="users"),
        # Systems: producers send events and follow them; operators also inspect and redrive.
        access_policies=(
            AccessPolicySpec(
                name="producer",
                description="Send events to the API and read their status.",
                routes=_PRODUCER_ROUTES,
            ),
            AccessPolicySpec(
                name="operator",
                description="Call every system route; inspect, stop and redrive executions.",
                routes=_PRODUCER_ROUTES + _OPERATOR_ROUTES,
                operated_workflows=("ingest", "aggregate", "enrich"),
            ),
        ),
        circuit_breaker=CircuitBreakerSpec(function="deliver", table="circuit"),
        # An execution that ends FAILED outside its workflow's Catch, TIMED_OUT or ABORTED
        # never reaches its own update_status step: this rule tells update_status instead.
        execution_status_rules=(
            ExecutionStatusRuleSpec(
                name="execution-outcomes",
                workflows=("ingest", "aggregate", "enrich"),
                target_function="update_status",
                dead_letter_queue="execution-outcomes-dlq",
            ),
        ),
    )


def _ingest_queue_grant(config: StackConfig) -> tuple[QueueGrant, ...]:
    if Intake(config.intake) is Intake.QUEUED:
        return (QueueGrant("ingest", Access.WRITE, names.INGEST_QUEUE_URL_ENV),)
    return ()


def _ingest_workflow_grant(config: StackConfig) -> tuple[WorkflowGrant, ...]:
    if Intake(config.intake) is Intake.PER_REQUEST:
        return (WorkflowGrant("ingest", names.INGEST_STATE_MACHINE_ENV),)
    return ()
