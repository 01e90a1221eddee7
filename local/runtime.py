"""The embedded local runtime: the stack description, running on one machine.

:class:`LocalStack` turns an :class:`~stack.spec.App` into live resources on a moto server bound
to loopback (tables, state machines) and Lambda worker processes, and wires moto's ASL
interpreter to those workers through :mod:`local.moto_patches`. It declares nothing of its own:
everything comes from the description, exactly as the Pulumi program does.

>>> from stack.app import build_app
>>> with LocalStack(build_app(), LocalSettings(port=0)) as stack:  # doctest: +SKIP
...     stack.client("stepfunctions").list_state_machines()
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from local import moto_patches
from local.clock import TimeScale
from local.execution_archive import ExecutionArchive
from local.lambdas.pool import (
    FunctionNotFoundError,
    InvocationResult,
    LambdaPool,
    TooManyRequestsError,
    WorkerConfig,
)
from stack import outputs as output_names
from stack.spec import App, FunctionSpec, TableSpec, WorkflowSpec

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_ACCOUNT = "123456789012"
DEFAULT_PORT = 4566
_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
_SNAPSHOT_DIR = "dynamodb"
_running: LocalStack | None = None


@dataclass(frozen=True)
class LocalSettings:
    """How the local runtime runs: where it listens, keeps state, and how fast time passes."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    state_dir: Path = REPO_ROOT / ".state"
    time_scale: float = 1.0
    max_workers_per_function: int = 4
    persist_tables: bool = True
    extra_function_environment: dict[str, str] = field(default_factory=dict)


def function_arn(app: App, function_name: str) -> str:
    """The ARN a function has on the local runtime (same shape as on AWS)."""
    physical = app.physical_name(function_name)
    return f"arn:aws:lambda:{app.config.region}:{LOCAL_ACCOUNT}:function:{physical}"


def state_machine_arn(app: App, workflow_name: str) -> str:
    physical = app.physical_name(workflow_name)
    return f"arn:aws:states:{app.config.region}:{LOCAL_ACCOUNT}:stateMachine:{physical}"


def rendered_definition(app: App, workflow: WorkflowSpec) -> dict[str, Any]:
    """The exact ASL the local runtime creates for ``workflow``."""
    return workflow.definition.render(lambda name: function_arn(app, name))


class LocalStack:
    """The whole stack on loopback: a moto endpoint, Lambda workers, and the resources."""

    def __init__(self, app: App, settings: LocalSettings | None = None) -> None:
        self.app = app
        self.settings = settings or LocalSettings()
        self.time_scale = TimeScale(self.settings.time_scale)
        self._server: Any = None
        self._pool: LambdaPool | None = None
        self._archive: ExecutionArchive | None = None
        self._port = self.settings.port
        self._functions_by_physical_name = {
            app.physical_name(spec.name): spec for spec in app.functions
        }

    # --- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> dict[str, Any]:
        """Bring everything up and return the stack outputs (the keys ``pulumi up`` exports)."""
        global _running  # noqa: PLW0603 - moto's backends are process-wide, so is this guard
        if _running is not None:
            raise RuntimeError("a local stack is already running in this process; stop it first")
        _running = self
        state_dir = self.settings.state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self._archive = ExecutionArchive(state_dir / "executions.sqlite3")
        self._port = self._resolve_port()
        # moto's interpreter reaches other services through its own port.
        os.environ["MOTO_PORT"] = str(self._port)
        for key, value in _CREDENTIALS.items():
            os.environ.setdefault(key, value)
        moto_patches.install(
            dispatcher=self._dispatch, time_scale=self.time_scale, archive=self._archive
        )
        moto_patches.context().time_scale = self.time_scale
        moto_patches.context().archive = self._archive
        moto_patches.context().dispatcher = self._dispatch
        self._start_server(state_dir / "logs")
        self._pool = LambdaPool(
            [self._worker_config(spec) for spec in self.app.functions],
            code_root=REPO_ROOT,
            log_dir=state_dir / "logs",
            max_workers_per_function=self.settings.max_workers_per_function,
            base_environment=self._worker_base_environment(),
        )
        self._provision()
        self._pool.start(warm=True)
        return self.outputs()

    def stop(self) -> None:
        global _running  # noqa: PLW0603
        if _running is self:
            _running = None
        if self._server is not None and self.settings.persist_tables:
            with contextlib.suppress(Exception):
                self.snapshot_tables()
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._archive is not None:
            self._archive.close()
            self._archive = None

    # --- what users see -------------------------------------------------------------------

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.settings.host}:{self._port}"

    @property
    def archive(self) -> ExecutionArchive:
        if self._archive is None:
            raise RuntimeError("the local stack is not running")
        return self._archive

    @property
    def pool(self) -> LambdaPool:
        if self._pool is None:
            raise RuntimeError("the local stack is not running")
        return self._pool

    def client(self, service: str) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.app.config.region,
            aws_access_key_id=_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            config=Config(retries={"max_attempts": 2, "mode": "standard"}, max_pool_connections=64),
        )

    def outputs(self) -> dict[str, Any]:
        """The stack outputs, under the same keys the Pulumi program exports."""
        app = self.app
        machine_arns = {wf.name: state_machine_arn(app, wf.name) for wf in app.workflows}
        values: dict[str, Any] = {
            output_names.REGION: app.config.region,
            output_names.PREFIX: app.config.prefix,
            output_names.STATE_MACHINE_ARNS: machine_arns,
            output_names.FUNCTION_NAMES: {f.name: app.physical_name(f.name) for f in app.functions},
            output_names.TABLE_NAMES: {t.name: app.physical_name(t.name) for t in app.tables},
            output_names.QUEUE_URLS: {
                q.name: f"{self.endpoint_url}/{LOCAL_ACCOUNT}/{app.physical_name(q.name)}"
                for q in app.queues
            },
            output_names.BUCKET_NAMES: {b.name: app.physical_name(b.name) for b in app.buckets},
        }
        for workflow, arn in machine_arns.items():
            values[output_names.state_machine_arn_key(workflow)] = arn
        return values

    def state_machine_arn(self, workflow_name: str) -> str:
        self.app.workflow(workflow_name)  # raises KeyError naming the known workflows
        return state_machine_arn(self.app, workflow_name)

    def wait_for_execution(
        self, execution_arn: str, timeout_seconds: float = 60.0
    ) -> dict[str, Any]:
        """Poll ``DescribeExecution`` until the execution leaves RUNNING."""
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout_seconds
        while True:
            described: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
            if described["status"] != "RUNNING":
                return described
            if time.monotonic() > deadline:
                raise TimeoutError(f"{execution_arn} still RUNNING after {timeout_seconds} s")
            time.sleep(0.01)

    # --- internals ------------------------------------------------------------------------

    def _resolve_port(self) -> int:
        if self.settings.port != 0:
            return self.settings.port
        with socket.socket() as probe:
            probe.bind((self.settings.host, 0))
            port: int = probe.getsockname()[1]
            return port

    def _start_server(self, log_dir: Path) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        log_dir.mkdir(parents=True, exist_ok=True)
        # The request log goes to a file: a full pipe would block the server.
        request_log = logging.getLogger("werkzeug")
        request_log.handlers[:] = [logging.FileHandler(log_dir / "aws-endpoint.log")]
        request_log.propagate = False
        self._server = ThreadedMotoServer(
            ip_address=self.settings.host, port=self._port, verbose=False
        )
        self._server.start()
        # moto's backends outlive a server in the same process: start from nothing.
        import urllib.request

        urllib.request.urlopen(
            urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST"), timeout=10
        ).close()

    def _worker_base_environment(self) -> dict[str, str]:
        region = self.app.config.region
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            **_CREDENTIALS,
            # No X-Ray daemon locally; Powertools' Tracer becomes a no-op.
            "POWERTOOLS_TRACE_DISABLED": "true",
            **self.settings.extra_function_environment,
        }

    def _worker_config(self, spec: FunctionSpec) -> WorkerConfig:
        return WorkerConfig(
            function_name=self.app.physical_name(spec.name),
            handler=spec.handler,
            environment=self.app.function_environment(spec),
            timeout_seconds=float(spec.timeout_seconds),
            memory_mb=spec.memory_mb,
            reserved_concurrency=spec.reserved_concurrency,
        )

    def _dispatch(self, function_ref: str, payload: bytes) -> InvocationResult:
        # Step Functions accepts a name, a partial ARN or a full ARN, with or without qualifier.
        physical = function_ref.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
        spec = self._functions_by_physical_name.get(physical)
        if spec is None or self._pool is None:
            raise moto_patches.LambdaNotFoundError(f"Function not found: {function_ref}")
        try:
            return self._pool.invoke(
                physical, payload, wait_for_capacity=spec.reserved_concurrency is None
            )
        except TooManyRequestsError as error:
            raise moto_patches.LambdaThrottledError(
                f"Rate Exceeded. Reserved concurrency of {physical} is exhausted"
            ) from error
        except FunctionNotFoundError as error:
            raise moto_patches.LambdaNotFoundError(str(error)) from error

    def _provision(self) -> None:
        dynamodb = self.client("dynamodb")
        for table in self.app.tables:
            self._create_table(dynamodb, table)
        sfn = self.client("stepfunctions")
        role_arn = f"arn:aws:iam::{LOCAL_ACCOUNT}:role/{self.app.physical_name('states')}"
        for workflow in self.app.workflows:
            sfn.create_state_machine(
                name=self.app.physical_name(workflow.name),
                definition=json.dumps(rendered_definition(self.app, workflow)),
                roleArn=role_arn,
                type=workflow.type.value,
            )

    def _create_table(self, dynamodb: Any, table: TableSpec) -> None:
        name = self.app.physical_name(table.name)
        keys = [{"AttributeName": table.partition_key, "KeyType": "HASH"}]
        attributes = {table.partition_key}
        if table.sort_key:
            keys.append({"AttributeName": table.sort_key, "KeyType": "RANGE"})
            attributes.add(table.sort_key)
        indexes = []
        for index in table.indexes:
            index_keys = [{"AttributeName": index.partition_key, "KeyType": "HASH"}]
            attributes.add(index.partition_key)
            if index.sort_key:
                index_keys.append({"AttributeName": index.sort_key, "KeyType": "RANGE"})
                attributes.add(index.sort_key)
            indexes.append(
                {
                    "IndexName": index.name,
                    "KeySchema": index_keys,
                    "Projection": {"ProjectionType": "ALL"},
                }
            )
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": keys,
            "AttributeDefinitions": [
                {"AttributeName": attr, "AttributeType": "S"} for attr in sorted(attributes)
            ],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if indexes:
            request["GlobalSecondaryIndexes"] = indexes
        dynamodb.create_table(**request)
        if table.ttl_attribute:
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": table.ttl_attribute},
            )
        if self.settings.persist_tables:
            self._restore_table(dynamodb, name)

    # --- table persistence ----------------------------------------------------------------

    def _snapshot_path(self, table_name: str) -> Path:
        return self.settings.state_dir / _SNAPSHOT_DIR / f"{table_name}.jsonl"

    def snapshot_tables(self) -> None:
        """Write every table's items to the state directory, so the next start has them."""
        dynamodb = self.client("dynamodb")
        for table in self.app.tables:
            name = self.app.physical_name(table.name)
            path = self._snapshot_path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with tmp.open("w") as out:
                for page in dynamodb.get_paginator("scan").paginate(TableName=name):
                    for item in page["Items"]:
                        out.write(json.dumps(item) + "\n")
            tmp.replace(path)

    def _restore_table(self, dynamodb: Any, table_name: str) -> None:
        path = self._snapshot_path(table_name)
        if not path.exists():
            return
        for batch in _chunks((json.loads(line) for line in path.open() if line.strip()), 25):
            dynamodb.batch_write_item(
                RequestItems={table_name: [{"PutRequest": {"Item": item}} for item in batch]}
            )


def _chunks(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
