"""The embedded local runtime: the stack description, running on one machine.

:class:`LocalStack` turns an :class:`~stack.spec.App` into live resources on a moto server bound
to loopback (tables, queues and their DLQs, buckets and their notifications, secrets, state
machines: see :mod:`local.provisioning`) and Lambda worker processes, wires moto's ASL
interpreter to those workers through :mod:`local.moto_patches`, polls each pipe
(:mod:`local.pipes`) and serves the HTTP API (:mod:`local.api_gateway`). It declares nothing of
its own: everything comes from the description, exactly as the Pulumi program does.

>>> from stack.app import build_app
>>> with LocalStack(build_app(), LocalSettings(port=0)) as stack:  # doctest: +SKIP
...     stack.client("stepfunctions").list_state_machines()
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from functions._shared import names
from local import durability, moto_patches
from local.api_gateway import ApiGateway
from local.api_gateway.authorization import stack_authorizers
from local.clock import TimeScale
from local.console.server import ConsoleServer, ConsoleTargets
from local.credentials import LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY
from local.event_rules import ExecutionStatusRules, ObservedArchive
from local.execution_archive import ExecutionArchive
from local.lambdas.deployments import LambdaDeployments, function_name_of
from local.lambdas.pool import (
    FunctionNotFoundError,
    InvocationResult,
    LambdaPool,
    TooManyRequestsError,
    WorkerConfig,
)
from local.lifecycle import Service
from local.metrics import EmfPublisher
from local.pipes import (
    DEFAULT_POLL_WAIT_SECONDS,
    Enrichment,
    PipePoller,
    Pipes,
    lambda_enrichment,
)
from local.ports import PortInUseError, ensure_free
from local.provisioning import (
    LOCAL_ACCOUNT,
    Resources,
    function_arn,
    provision,
    register_functions,
    rendered_definition,
    state_machine_arn,
)
from stack.checks import check_app
from stack.outputs import stack_outputs
from stack.spec import App, FunctionSpec

__all__ = [
    "DEFAULT_PORT",
    "LOCAL_ACCOUNT",
    "REPO_ROOT",
    "LocalSettings",
    "LocalStack",
    "function_arn",
    "rendered_definition",
    "state_machine_arn",
    "worker_environment",
]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PORT = 4566
_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_ACCESS_KEY,
}
_running: LocalStack | None = None


@dataclass(frozen=True)
class LocalSettings:
    """How the local runtime runs: where it listens, keeps state, and how fast time passes.

    ``api_port`` is where the HTTP API listens: ``None`` means ``port + 1`` (4567 next to the
    AWS endpoint's 4566), or a free port when ``port`` is 0; 0 is always a free port.
    ``downstream_url`` (the URL deliver posts to, as the ``downstreamUrl`` config) and
    ``provider_url`` (the provider's base URL, as ``providerUrl``), when set, replace
    ``DOWNSTREAM_URL`` and ``PROVIDER_URL`` in the functions that have them, so they call local
    peers; ``environment_overrides`` does the same for any variable, again only in the
    functions whose description has it. Every function gets ``time_scale`` as
    ``LOCAL_TIME_SCALE``, so its own waits and clocks keep pace. ``secret_values`` gives a
    secret (by logical name) its value; any other secret gets a fresh ``{"token": "..."}``
    (read it back with :meth:`LocalStack.secret_value`). ``pipe_batching_window_seconds``
    replaces every pipe's batching window (real seconds, not scaled by ``time_scale``).
    ``persist_tables`` journals tables, queue messages, objects and executions in ``state_dir``
    as they change and restores them on start (:mod:`local.durability`).
    """

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    state_dir: Path = REPO_ROOT / ".state"
    time_scale: float = 1.0
    max_workers_per_function: int = 4
    persist_tables: bool = True
    extra_function_environment: dict[str, str] = field(default_factory=dict)
    api_port: int | None = None
    downstream_url: str | None = None
    provider_url: str | None = None
    environment_overrides: dict[str, str] = field(default_factory=dict)
    secret_values: dict[str, str] = field(default_factory=dict)
    run_pipes: bool = True
    pipe_batching_window_seconds: float | None = None
    pipe_poll_wait_seconds: float = DEFAULT_POLL_WAIT_SECONDS
    # The web console (local/console/): None means ``port + 2`` (a free port when that is
    # busy, or when ``port`` is 0); ``serve_console=False`` leaves it off.
    console_port: int | None = None
    serve_console: bool = True


def _has_visible_messages(region: str, queue_name: str) -> bool:
    return moto_patches.visible_sqs_messages(LOCAL_ACCOUNT, region, queue_name) > 0


def worker_environment(
    app: App, function: FunctionSpec, resources: Resources, settings: LocalSettings
) -> dict[str, str]:
    """The environment ``function``'s workers get (before Lambda's own ``AWS_*`` variables).

    The description's variables, the backend references filled in (queue URLs, state machine
    ARNs) and the local overrides (``settings.downstream_url``, ``settings.provider_url``,
    ``environment_overrides``), which replace variables the function has and never add any.
    """
    environment = resources.function_environment(app, function)
    peer_urls = {
        names.DOWNSTREAM_URL_ENV: settings.downstream_url,
        names.PROVIDER_URL_ENV: settings.provider_url,
    }
    overrides = settings.environment_overrides | {
        name: url for name, url in peer_urls.items() if url
    }
    for name, value in overrides.items():
        if name in environment:
            environment[name] = value
    return environment


class LocalStack(Service):
    """The whole stack on loopback: a moto endpoint, Lambda workers, and the resources."""

    def __init__(self, app: App, settings: LocalSettings | None = None) -> None:
        self.app = app
        self.settings = settings or LocalSettings()
        self.time_scale = TimeScale(self.settings.time_scale)
        self._server: Any = None
        self._pool: LambdaPool | None = None
        self._lambda_service: LambdaDeployments | None = None
        self._archive: ObservedArchive | None = None
        self._execution_status_rules: ExecutionStatusRules | None = None
        self._resources: Resources | None = None
        self._pipes: Pipes | None = None
        self._api: ApiGateway | None = None
        self._console: ConsoleServer | None = None
        self._state_lock: durability.StateLock | None = None
        self._durable: durability.DurableState | None = None
        self._port = self.settings.port

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> dict[str, Any]:
        """Bring everything up and return the stack outputs (the keys ``pulumi up`` exports).

        A description that ``pulumi up`` would refuse (:func:`stack.checks.check_app`) is refused
        here too, before anything starts, with a :class:`~stack.checks.DescriptionError`.
        """
        global _running  # noqa: PLW0603 - moto's backends are process-wide, so is this guard
        check_app(self.app)
        if _running is not None:
            raise RuntimeError("a local stack is already running in this process; stop it first")
        _running = self
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> dict[str, Any]:
        state_dir = self.settings.state_dir
        self._state_lock = durability.StateLock.acquire(state_dir)
        self._archive = ObservedArchive(state_dir / "executions.sqlite3")
        self._port = self._resolve_port()
        ensure_free(self.settings.host, self._api_port())
        if self.settings.serve_console and self.settings.console_port is not None:
            ensure_free(self.settings.host, self.settings.console_port)
        # moto's interpreter reaches other services through its own port.
        os.environ["MOTO_PORT"] = str(self._port)
        for key, value in _CREDENTIALS.items():
            os.environ.setdefault(key, value)
        moto_patches.install(
            dispatcher=self._dispatch, time_scale=self.time_scale, archive=self._archive
        )
        durability.install()
        self._start_server(state_dir / "logs")
        resources = provision(self.app, self.client, secret_values=self.settings.secret_values)
        self._resources = resources
        self._execution_status_rules = self._make_execution_status_rules(resources)
        self._archive.observer = self._execution_status_rules.observe
        if self.settings.persist_tables:
            self._durable = durability.open_state(
                state_dir,
                LOCAL_ACCOUNT,
                self._archive,
                outcomes=self._execution_status_rules.attach,
            )
        worker_configs = [self._worker_config(spec, resources) for spec in self.app.functions]
        self._pool = LambdaPool(
            worker_configs,
            code_root=REPO_ROOT,
            log_dir=state_dir / "logs",
            max_workers_per_function=self.settings.max_workers_per_function,
            base_environment=self._worker_base_environment(),
            metrics_sink=EmfPublisher(LOCAL_ACCOUNT, self.app.config.region),
        )
        environments = {config.function_name: config.environment for config in worker_configs}
        # Registering only describes the functions to the Lambda API: it overlaps the INIT.
        with ThreadPoolExecutor(1, thread_name_prefix="register-functions") as registering:
            registered = registering.submit(register_functions, self.app, self.client, environments)
            self._pool.start(warm=True)
            registered.result()
        # The Lambda API (Invoke, CreateFunction...) and Task states reach the pool through it.
        self._lambda_service = LambdaDeployments(self._pool, state_dir / "functions")
        moto_patches.context().lambda_service = self._lambda_service
        self._execution_status_rules.start()
        if self.settings.run_pipes and self.app.pipes:
            self._pipes = self._make_pipes(resources)
            self._pipes.start()
        if self.app.api is not None:
            self._api = ApiGateway(
                self.app.api,
                self._invoke_for_api,
                log_path=state_dir / "logs" / "api-gateway.log",
                host=self.settings.host,
                port=self._api_port(),
                account_id=LOCAL_ACCOUNT,
                region=self.app.config.region,
                authorizers=stack_authorizers(self.app, resources, endpoint_url=self.endpoint_url),
            )
            self._api.start()
        if self.settings.serve_console:
            self._console = ConsoleServer(
                ConsoleTargets(
                    self.endpoint_url,
                    None if self._api is None else self._api.url,
                    self.app.config.region,
                ),
                host=self.settings.host,
                port=self._console_port(),
            )
            self._console.start()
        moto_patches.context().usage = self.usage
        return self.outputs()

    def stop(self) -> None:
        """Stop everything this stack started; safe to call twice, or after a failed start."""
        global _running  # noqa: PLW0603
        if _running is self:
            _running = None
        if moto_patches.context().usage == self.usage:
            moto_patches.context().usage = None
        # The front doors first, so nothing new arrives while the rest winds down.
        if self._console is not None:
            self._console.stop()
            self._console = None
        if self._api is not None:
            self._api.stop()
            self._api = None
        if self._pipes is not None:
            self._pipes.stop()
            self._pipes = None
        if self._durable is not None:  # what is still running stays journaled as running
            self._durable.close()
            self._durable = None
        if self._execution_status_rules is not None:
            self._execution_status_rules.close()
            self._execution_status_rules = None
        if self._lambda_service is not None:
            moto_patches.context().lambda_service = None
            self._lambda_service = None
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._archive is not None:
            self._archive.close()
            self._archive = None
        if self._state_lock is not None:
            self._state_lock.release()
            self._state_lock = None

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
            # inject_host_prefix off: StartSyncExecution's "sync-" prefix cannot go before an IP.
            config=Config(
                retries={"max_attempts": 2, "mode": "standard"},
                max_pool_connections=64,
                inject_host_prefix=False,
            ),
        )

    @property
    def api_url(self) -> str:
        """The HTTP API's base URL (its ``$default`` stage), as the ``apiUrl`` output."""
        if self._api is None:
            raise RuntimeError("the local stack serves no API (not running, or none described)")
        return self._api.url

    @property
    def console_url(self) -> str:
        """The web console's URL (local/console/)."""
        if self._console is None:
            raise RuntimeError("the local stack serves no console (not running, or turned off)")
        return self._console.url

    @property
    def resources(self) -> Resources:
        if self._resources is None:
            raise RuntimeError("the local stack is not running")
        return self._resources

    def queue_url(self, queue_name: str) -> str:
        self.app.queue(queue_name)  # raises KeyError naming the known queues
        return self.resources.queues[queue_name].url

    def dead_letter_queue_url(self, queue_name: str) -> str:
        url = self.resources.queues[self.app.queue(queue_name).name].dlq_url
        if url is None:
            raise KeyError(f"queue {queue_name!r} has no dead-letter queue")
        return url

    def secret_value(self, secret_name: str) -> str:
        """The secret's current ``SecretString`` (``{"token": "..."}`` unless set otherwise).

        >>> token = json.loads(stack.secret_value("downstream"))["token"]  # doctest: +SKIP
        """
        if secret_name not in {secret.name for secret in self.app.secrets}:
            known = ", ".join(secret.name for secret in self.app.secrets)
            raise KeyError(f"no secret {secret_name!r} in the stack (known: {known})")
        answer = self.client("secretsmanager").get_secret_value(
            SecretId=self.app.physical_name(secret_name)
        )
        return str(answer["SecretString"])

    def pipe_stats(self) -> dict[str, dict[str, int]]:
        """Per pipe: messages received and deleted, batches started, failures (see PipePoller)."""
        return self._pipes.stats() if self._pipes is not None else {}

    def usage(self) -> dict[str, Any]:
        """What the stack's Lambdas (:meth:`LambdaPool.stats`), pipes (:meth:`pipe_stats`) and
        API did since it started: what :mod:`local.cost` prices besides the endpoint's requests."""
        return {
            "lambda": self._pool.stats() if self._pool is not None else {},
            "pipes": self.pipe_stats(),
            "api": self._api.stats() if self._api is not None else {},
        }

    def outputs(self) -> dict[str, Any]:
        """The stack outputs, under the same keys the Pulumi program exports."""
        app = self.app
        queues = self.resources.queues
        return stack_outputs(
            app,
            state_machine_arns={wf.name: state_machine_arn(app, wf.name) for wf in app.workflows},
            function_names={f.name: app.physical_name(f.name) for f in app.functions},
            table_names={t.name: app.physical_name(t.name) for t in app.tables},
            queue_urls={name: queue.url for name, queue in queues.items()},
            dead_letter_queue_urls={
                name: queue.dlq_url for name, queue in queues.items() if queue.dlq_url
            },
            bucket_names={b.name: app.bucket_name(b.name) for b in app.buckets},
            secret_names={s.name: app.physical_name(s.name) for s in app.secrets},
            api_url=None if self._api is None else self._api.url,
            user_pool_id=None if self.resources.user_pool is None else self.resources.user_pool.id,
            user_pool_client_id=(
                None if self.resources.user_pool is None else self.resources.user_pool.client_id
            ),
            access_policy_arns=self.resources.access_policies,
        )

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
            ensure_free(self.settings.host, self.settings.port)
            return self.settings.port
        with socket.socket() as probe:
            probe.bind((self.settings.host, 0))
            port: int = probe.getsockname()[1]
            return port

    def _start_server(self, log_dir: Path) -> None:
        from moto.moto_server.threaded_moto_server import ThreadedMotoServer

        log_dir.mkdir(parents=True, exist_ok=True)
        # The request log and the interpreter's own error reports (a failed Task is logged at
        # ERROR with the whole parsed state) go to a file: a full pipe would block the server,
        # and the execution history is where users read failures.
        log_file = logging.FileHandler(log_dir / "aws-endpoint.log")
        for name in ("werkzeug", "moto"):
            server_log = logging.getLogger(name)
            server_log.handlers[:] = [log_file]
            server_log.propagate = False
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
            # A zero scale skips the workflow's waits, but a Lambda's clock cannot stand still.
            names.LOCAL_TIME_SCALE_ENV: str(self.settings.time_scale or 1.0),
            **self.settings.extra_function_environment,
        }

    def _api_port(self) -> int:
        if self.settings.api_port is not None:
            return self.settings.api_port
        return 0 if self.settings.port == 0 else self._port + 1

    def _console_port(self) -> int:
        if self.settings.console_port is not None:
            return self.settings.console_port
        derived = 0 if self.settings.port == 0 else self._port + 2
        # The console is a convenience: a busy derived port moves it, never stops the stack.
        try:
            ensure_free(self.settings.host, derived)
        except PortInUseError:
            return 0
        return derived

    def _make_pipes(self, resources: Resources) -> Pipes:
        pollers = []
        for pipe in self.app.pipes:
            queue = resources.queues[pipe.source_queue]
            window = self.settings.pipe_batching_window_seconds
            pollers.append(
                PipePoller(
                    pipe.name,
                    sqs=self.client("sqs"),
                    sfn=self.client("stepfunctions"),
                    queue_url=queue.url,
                    queue_arn=queue.arn,
                    state_machine_arn=resources.state_machines[pipe.target_workflow],
                    region=self.app.config.region,
                    batch_size=pipe.batch_size,
                    filter_patterns=pipe.filter_patterns,
                    batching_window_seconds=(
                        pipe.batching_window_seconds if window is None else window
                    ),
                    poll_wait_seconds=self.settings.pipe_poll_wait_seconds,
                    has_messages=functools.partial(
                        _has_visible_messages, self.app.config.region, queue.name
                    ),
                    enrich=self._enrichment(pipe.enrichment_function),
                )
            )
        return Pipes(pollers)

    def _make_execution_status_rules(self, resources: Resources) -> ExecutionStatusRules:
        sqs = self.client("sqs")

        def send_dead_letter(queue_name: str, body: str) -> None:
            url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)

        return ExecutionStatusRules(
            self.app,
            state_machine_arn=lambda workflow: resources.state_machines[workflow],
            # The pool starts after the rules: resolved at each delivery.
            invoke=lambda function_name, payload: self.pool.invoke(function_name, payload),  # noqa: PLW0108
            send_dead_letter=send_dead_letter,
        )

    def _enrichment(self, function_name: str | None) -> Enrichment | None:
        if function_name is None:
            return None
        spec = self.app.function(function_name)
        return lambda_enrichment(function_name, functools.partial(self._invoke, spec))

    def _invoke_for_api(self, function_name: str, payload: bytes) -> InvocationResult:
        # Lambda's Invoke API as API Gateway calls it: a throttled function answers 429.
        return self._invoke(self.app.function(function_name), payload)

    def _invoke(self, spec: FunctionSpec, payload: bytes) -> InvocationResult:
        # As on AWS, only a function with reserved concurrency is throttled; the others queue
        # for one of the machine's workers.
        return self.pool.invoke(
            self.app.physical_name(spec.name),
            payload,
            wait_for_capacity=spec.reserved_concurrency is None,
        )

    def _worker_config(self, spec: FunctionSpec, resources: Resources) -> WorkerConfig:
        environment = worker_environment(self.app, spec, resources, self.settings)
        return WorkerConfig(
            function_name=self.app.physical_name(spec.name),
            handler=spec.handler,
            environment=environment,
            timeout_seconds=float(spec.timeout_seconds),
            memory_mb=spec.memory_mb,
            reserved_concurrency=spec.reserved_concurrency,
        )

    def _dispatch(self, function_ref: str, payload: bytes) -> InvocationResult:
        # Step Functions accepts a name, a partial ARN or a full ARN, with or without qualifier;
        # the stack's functions and those created through the Lambda API alike.
        if self._lambda_service is None:
            raise moto_patches.LambdaNotFoundError(f"Function not found: {function_ref}")
        try:
            return self._lambda_service.invoke(function_ref, payload)
        except TooManyRequestsError as error:
            physical = function_name_of(function_ref)
            raise moto_patches.LambdaThrottledError(
                f"Rate Exceeded. Reserved concurrency of {physical} is exhausted"
            ) from error
        except FunctionNotFoundError as error:
            raise moto_patches.LambdaNotFoundError(str(error)) from error
