"""A pool of Lambda execution environments: one OS process per concurrent invocation of a function.

Each function gets its own workers (see :mod:`local.lambdas.worker`), with its own environment
variables, module state and cold start. A worker serves one invocation at a time and is kept warm
for the next; a new one is started only when every warm worker of the function is busy, up to the
function's reserved concurrency (or ``max_workers_per_function`` when it has none). Timeouts kill
the worker, as Lambda discards the sandbox, and every failure comes back in the shape Lambda's
Invoke API gives it, so Step Functions ``Retry``/``Catch`` match on ``errorType`` as on AWS.
"""

from __future__ import annotations

import logging
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from local.lambdas import worker as wire
from local.lambdas.worker_process import (
    WorkerExitedError,
    WorkerProcess,
    WorkerResponse,
    WorkerTimedOutError,
)

__all__ = [
    "INIT_TIMEOUT_SECONDS",
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "RESERVED_ENVIRONMENT_KEYS",
    "FunctionNotFoundError",
    "InvocationResult",
    "LambdaPool",
    "MetricsSink",
    "PoolClosedError",
    "RequestTooLargeError",
    "TooManyRequestsError",
    "WorkerConfig",
]

_log = logging.getLogger(__name__)

# Lambda's INIT phase limit for on-demand functions.
INIT_TIMEOUT_SECONDS = 10.0
# Synchronous invocation limits, with the byte counts Lambda quotes in its errors.
MAX_REQUEST_BYTES = 6_291_456
MAX_RESPONSE_BYTES = 6_291_556

# Keys Lambda refuses in a function's configuration (CreateFunction fails with
# InvalidParameterValueException); rejecting them here catches the mistake before a deploy does.
RESERVED_ENVIRONMENT_KEYS = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_DEFAULT_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
    }
)

# What a worker inherits from this process; everything else must be configured, as on AWS.
_INHERITED_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "USER", "LOGNAME")
_DEFAULT_ACCOUNT_ID = "123456789012"  # moto's default account


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """One function, as its deployment describes it.

    ``code_root`` is the function's package (``LAMBDA_TASK_ROOT``, the only code on its
    ``sys.path``); ``None`` means the pool's ``code_root``.
    """

    function_name: str
    handler: str
    environment: Mapping[str, str]
    timeout_seconds: float
    memory_mb: int = 128
    reserved_concurrency: int | None = None
    code_root: Path | None = None


@dataclass(frozen=True, slots=True)
class InvocationResult:
    """What Lambda's Invoke API returns for a synchronous invocation.

    ``duration_ms`` covers the invocation only (INIT excluded, as in Lambda's REPORT line);
    ``cold_start`` is true when this invocation had to wait for a new worker's INIT.
    ``log_tail`` is the end of the invocation's log when asked for (``LogType: Tail``).
    """

    payload: bytes
    function_error: str | None
    duration_ms: float
    request_id: str
    cold_start: bool
    log_tail: bytes = b""


# Called with a function's name and the EMF documents (one per line) an invocation printed.
MetricsSink = Callable[[str, bytes], None]


class TooManyRequestsError(Exception):
    """The function is at its concurrency limit (Lambda's 429 TooManyRequestsException)."""


class FunctionNotFoundError(Exception):
    """No function of that name in the pool (Lambda's 404 ResourceNotFoundException)."""


class RequestTooLargeError(Exception):
    """The payload exceeds the synchronous limit (Lambda's 413 RequestEntityTooLargeException)."""


class PoolClosedError(RuntimeError):
    """The pool was closed before or during the invocation."""


class _Function:
    """A function's configuration, its workers and its counters, guarded by ``cond``."""

    def __init__(self, config: WorkerConfig, limit: int, arn: str, env: dict[str, str]) -> None:
        self.config = config
        self.limit = limit
        self.arn = arn
        self.env = env
        self.timeout_message = f"Task timed out after {config.timeout_seconds:.2f} seconds"
        self.cond = threading.Condition(threading.Lock())
        self.idle: list[WorkerProcess] = []  # a stack: the most recently used worker is the warmest
        self.live = 0  # workers running or being started; never above `limit`
        self.busy = 0
        self.invocations = 0
        self.cold_starts = 0
        self.timeouts = 0
        self.errors = 0
        self.throttles = 0
        self.retired = False  # replaced by a new deployment: its workers are not reused
        # What Lambda bills: each invocation's duration rounded up to the millisecond, and
        # (since 2025-08-01) each INIT phase.
        self.billed_ms = 0
        self.init_ms = 0


def _error_payload(error_type: str, message: str) -> bytes:
    return wire.make_json({"errorType": error_type, "errorMessage": message})


class LambdaPool:
    """Runs Lambda handlers the way Lambda does: one warm, reused process per concurrent invocation.

    Example::

        configs = [WorkerConfig("stepflow-dev-validate", "functions.validate.app.handler",
                                {"POWERTOOLS_SERVICE_NAME": "validate"}, timeout_seconds=10)]
        with LambdaPool(configs, code_root=Path("."), log_dir=Path(".state/logs"),
                        base_environment={"AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
                                          "AWS_REGION": "us-east-1"}) as pool:
            pool.start()  # one warm worker per function, INIT paid now
            result = pool.invoke("stepflow-dev-validate", b'{"order_id": "o-1"}')
            if result.function_error:  # "Unhandled"
                error = json.loads(result.payload)  # {"errorType": "ValidationError", ...}

    Concurrency: a function runs at most ``reserved_concurrency`` invocations at once, or
    ``max_workers_per_function`` when it has no reservation (a local resource cap; Lambda's
    account-wide limit is far higher). At the limit, ``invoke(wait_for_capacity=False)`` raises
    :class:`TooManyRequestsError` as Lambda throttles; ``wait_for_capacity=True`` (the default)
    blocks, without a time limit, until a worker is free. A reservation of 0 always throttles.

    Workers are never retired for idleness; a worker is replaced only after it timed out or
    died. Memory size is passed to the handler but not enforced.
    """

    def __init__(
        self,
        configs: Iterable[WorkerConfig],
        *,
        code_root: Path,
        log_dir: Path,
        python: str = sys.executable,
        max_workers_per_function: int = 4,
        base_environment: Mapping[str, str] | None = None,
        metrics_sink: MetricsSink | None = None,
    ) -> None:
        if max_workers_per_function < 1:
            raise ValueError("max_workers_per_function must be at least 1")
        self._code_root = Path(code_root).resolve()
        self._log_dir = Path(log_dir)
        self._python = python
        self._worker_script = str(Path(wire.__file__).resolve())
        self._max_workers_per_function = max_workers_per_function
        self._metrics_sink = metrics_sink
        base = dict(base_environment or {})
        self._region = base.get("AWS_REGION") or base.get("AWS_DEFAULT_REGION")
        self._account = base.get("MOTO_ACCOUNT_ID", _DEFAULT_ACCOUNT_ID)
        self._common = self._common_environment(base, self._region)
        self._functions: dict[str, _Function] = {}
        for config in configs:
            if config.function_name in self._functions:
                raise ValueError(f"duplicate function name {config.function_name!r}")
            self._functions[config.function_name] = self._new_function(config)
        self._registry_lock = threading.Lock()
        self._workers: set[WorkerProcess] = set()
        self._closed = False
        self._log_dir.mkdir(parents=True, exist_ok=True)

    # -- configuration -------------------------------------------------------------------------

    def _common_environment(self, base: dict[str, str], region: str | None) -> dict[str, str]:
        env = {key: os.environ[key] for key in _INHERITED_ENVIRONMENT if key in os.environ}
        env.setdefault("LANG", "en_US.UTF-8")
        env["TZ"] = ":UTC"
        env["PYTHONPATH"] = str(self._code_root)
        env.update(base)
        if region:
            env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = region
        return env

    def _new_function(self, config: WorkerConfig) -> _Function:
        name = config.function_name
        reserved = sorted(RESERVED_ENVIRONMENT_KEYS.intersection(config.environment))
        if reserved:
            raise ValueError(
                f"function {name!r}: environment variables {reserved} are reserved by Lambda"
            )
        if config.reserved_concurrency is not None and config.reserved_concurrency < 0:
            raise ValueError(f"function {name!r}: reserved_concurrency must be >= 0")
        if config.timeout_seconds <= 0:
            raise ValueError(f"function {name!r}: timeout_seconds must be positive")
        limit = (
            self._max_workers_per_function
            if config.reserved_concurrency is None
            else config.reserved_concurrency
        )
        arn = f"arn:aws:lambda:{self._region or 'us-east-1'}:{self._account}:function:{name}"
        return _Function(config, limit, arn, self._environment(config, self._common))

    def _environment(self, config: WorkerConfig, common: dict[str, str]) -> dict[str, str]:
        code_root = self._code_root if config.code_root is None else config.code_root
        env = {**common, "PYTHONPATH": str(code_root), **config.environment}
        version = sys.version_info
        env.update(
            {
                "_HANDLER": config.handler,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version.major}.{version.minor}",
                "AWS_LAMBDA_FUNCTION_NAME": config.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": f"{config.timeout_seconds:g}",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.function_name}",
                "LAMBDA_TASK_ROOT": str(code_root),
                "LAMBDA_RUNTIME_DIR": str(Path(self._worker_script).parent),
            }
        )
        return env

    def function_names(self) -> list[str]:
        return list(self._functions)

    def config(self, function_name: str) -> WorkerConfig:
        """The function's current configuration; raises :class:`FunctionNotFoundError`."""
        function = self._functions.get(function_name)
        if function is None:
            raise FunctionNotFoundError(f"Function not found: {function_name}")
        return function.config

    def put_function(self, config: WorkerConfig) -> None:
        """Add a function, or replace one with a new deployment (code or configuration).

        As on Lambda, invocations in flight finish on the old deployment and the next ones get
        new workers; the old deployment's workers are not reused. Its in-flight invocations no
        longer count against the new concurrency limit.
        """
        function = self._new_function(config)
        with self._registry_lock:
            if self._closed:
                raise PoolClosedError("the Lambda pool is closed")
            previous = self._functions.get(config.function_name)
            self._functions[config.function_name] = function
        if previous is not None:
            self._retire(previous)

    def remove_function(self, function_name: str) -> None:
        """Forget a function (DeleteFunction); invocations in flight finish."""
        with self._registry_lock:
            previous = self._functions.pop(function_name, None)
        if previous is not None:
            self._retire(previous)

    def _retire(self, function: _Function) -> None:
        with function.cond:
            function.retired = True
            idle = list(function.idle)
            function.idle.clear()
            function.live -= len(idle)
            function.cond.notify_all()
        for worker in idle:
            worker.discard()
        with self._registry_lock:
            self._workers.difference_update(idle)

    def log_path(self, function_name: str) -> Path:
        """Where the function's workers write stdout and stderr (its CloudWatch log group)."""
        return self._log_dir / f"{function_name}.log"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, warm: bool = True) -> None:
        """With ``warm``, start one worker per function that has none and wait for its INIT.

        Workers start in parallel. A function whose INIT fails is left without a worker and
        logged here; its invocations report the INIT error, as on AWS.
        """
        if not warm:
            return
        starting: list[tuple[_Function, WorkerProcess]] = []
        for function in self._functions.values():
            with function.cond:
                if function.live or function.limit == 0:
                    continue
                function.live += 1
                function.busy += 1
            try:
                starting.append((function, self._spawn(function)))
            except BaseException:
                self._release(function, None, reusable=False)
                for started_function, worker in starting:
                    self._release(started_function, worker, reusable=False)
                raise
        for index, (function, worker) in enumerate(starting):
            error: InvocationResult | None = None
            try:
                error = self._await_init(function, worker, request_id="")
            except BaseException:
                for started_function, started_worker in starting[index:]:
                    self._release(started_function, started_worker, reusable=False)
                raise
            if error is not None:
                _log.warning(
                    "INIT of %s failed: %s",
                    function.config.function_name,
                    error.payload.decode(errors="replace"),
                )
            self._release(function, worker, reusable=error is None)

    def close(self) -> None:
        """Kill every worker and reap it; invocations in flight raise :class:`PoolClosedError`."""
        with self._registry_lock:
            self._closed = True
            workers = list(self._workers)
        idle: list[WorkerProcess] = []
        for function in list(self._functions.values()):
            with function.cond:
                idle.extend(function.idle)
                function.live -= len(function.idle)
                function.idle.clear()
                function.cond.notify_all()
        # Busy workers are killed and reaped here too, but their pipes are closed by the threads
        # using them, so no thread ever polls a closed (and possibly reused) descriptor.
        for worker in workers:
            worker.kill()
        for worker in idle:
            worker.discard()
        with self._registry_lock:
            self._workers.difference_update(idle)

    def __enter__(self) -> LambdaPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def stats(self) -> dict[str, dict[str, int]]:
        """Per function: ``workers`` (running or starting), ``busy``, ``invocations`` (accepted),
        ``cold_starts`` (INIT phases run, including by :meth:`start`), ``timeouts``, ``errors``
        (invocations with a function error, timeouts included), ``throttles``, ``billed_ms``
        (the invocations' durations, each rounded up to the millisecond as Lambda bills them),
        ``init_ms`` (the INIT phases' durations, likewise) and the configured ``memory_mb``."""
        result: dict[str, dict[str, int]] = {}
        for name, function in list(self._functions.items()):
            with function.cond:
                result[name] = {
                    "workers": function.live,
                    "busy": function.busy,
                    "invocations": function.invocations,
                    "cold_starts": function.cold_starts,
                    "timeouts": function.timeouts,
                    "errors": function.errors,
                    "throttles": function.throttles,
                    "billed_ms": function.billed_ms,
                    "init_ms": function.init_ms,
                    "memory_mb": function.config.memory_mb,
                }
        return result

    # -- invocation ----------------------------------------------------------------------------

    def invoke(
        self,
        function_name: str,
        payload: bytes,
        *,
        request_id: str | None = None,
        wait_for_capacity: bool = True,
        log_tail: bool = False,
    ) -> InvocationResult:
        """Invoke synchronously (``RequestResponse``); thread-safe, blocks until the result.

        With ``log_tail``, the result carries the last 4 KB of the invocation's log.

        Handler errors, timeouts and crashes are results (``function_error="Unhandled"``), not
        exceptions; exceptions are the Invoke API's own errors: :class:`FunctionNotFoundError`,
        :class:`TooManyRequestsError`, :class:`RequestTooLargeError`, :class:`PoolClosedError`.
        """
        function = self._functions.get(function_name)
        if function is None:
            raise FunctionNotFoundError(f"Function not found: {function_name}")
        if len(payload) > MAX_REQUEST_BYTES:
            raise RequestTooLargeError(
                f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the Invoke operation"
            )
        request_id = request_id or str(uuid.uuid4())
        while True:
            worker = self._acquire(function, wait_for_capacity)
            if worker is None or worker.alive():
                break
            # Died while idle (killed from outside, or a handler's thread crashed it later):
            # Lambda would simply use another environment, so do the same.
            self._release(function, worker, reusable=False)

        reusable = False
        try:
            cold = worker is None
            if worker is None:
                worker = self._spawn(function)
                init_error = self._await_init(function, worker, request_id)
                if init_error is not None:
                    return init_error
            result, reusable = self._exchange(
                function, worker, request_id, payload, cold, log_tail=log_tail
            )
            return result
        finally:
            self._release(function, worker, reusable)

    def _acquire(self, function: _Function, wait: bool) -> WorkerProcess | None:
        """An idle worker, or None with a slot reserved for a new one."""
        with function.cond:
            while True:
                if self._closed:
                    raise PoolClosedError("the Lambda pool is closed")
                if function.idle:
                    function.busy += 1
                    return function.idle.pop()
                if function.live < function.limit:
                    function.live += 1
                    function.busy += 1
                    return None
                if not wait or function.limit == 0:
                    function.throttles += 1
                    raise TooManyRequestsError(
                        f"Rate Exceeded: {function.config.function_name} is at its concurrency "
                        f"limit of {function.limit}"
                    )
                function.cond.wait()

    def _release(self, function: _Function, worker: WorkerProcess | None, reusable: bool) -> None:
        with function.cond:
            function.busy -= 1
            # Checked under the lock close() sweeps the idle lists with, so a worker can never be
            # parked after the sweep.
            if reusable and worker is not None and not self._closed and not function.retired:
                function.idle.append(worker)
                function.cond.notify()
                return
        if worker is not None:
            # Gone before its slot frees up, so a function never has more live processes than
            # its limit allows.
            worker.discard()
            with self._registry_lock:
                self._workers.discard(worker)
        with function.cond:
            function.live -= 1
            function.cond.notify()

    def _spawn(self, function: _Function) -> WorkerProcess:
        config = function.config
        env = dict(function.env)
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = (
            f"{time.strftime('%Y/%m/%d', time.gmtime())}/[$LATEST]{uuid.uuid4().hex}"
        )
        request_read, request_write = os.pipe()
        response_read, response_write = os.pipe()
        try:
            with open(self.log_path(config.function_name), "ab") as log:
                proc = subprocess.Popen(
                    [
                        self._python,
                        "-P",
                        self._worker_script,
                        str(request_read),
                        str(response_write),
                        function.arn,
                    ],
                    cwd=function.env["LAMBDA_TASK_ROOT"],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(request_read, response_write),
                    start_new_session=True,
                )
        except BaseException:
            os.close(request_write)
            os.close(response_read)
            raise
        finally:
            # The child holds its own copies; the parent must drop these so that the worker's
            # death shows up as end-of-file on the response pipe.
            os.close(request_read)
            os.close(response_write)
        worker = WorkerProcess(proc, request_write, response_read)
        with self._registry_lock:
            closed = self._closed
            if not closed:
                self._workers.add(worker)
        if closed:
            worker.discard()
            raise PoolClosedError("the Lambda pool is closed")
        with function.cond:
            function.cold_starts += 1
        return worker

    def _await_init(
        self, function: _Function, worker: WorkerProcess, request_id: str
    ) -> InvocationResult | None:
        """None once the worker is ready, else the INIT failure as the invocation's result."""
        started = time.monotonic()
        try:
            response = worker.receive(started + INIT_TIMEOUT_SECONDS)
        except WorkerTimedOutError:
            worker.kill()
            payload = _error_payload(
                "Sandbox.Timedout", f"RequestId: {request_id} Error: {function.timeout_message}"
            )
        except WorkerExitedError:
            if self._closed:
                raise PoolClosedError("the Lambda pool was closed during INIT") from None
            payload = _error_payload(
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: Runtime exited with error: "
                f"{worker.exit_description()}",
            )
        else:
            if response.status == wire.STATUS_READY:
                with function.cond:
                    function.init_ms += math.ceil((time.monotonic() - started) * 1000)
                return None
            payload = response.body
        with function.cond:
            function.errors += 1
        return InvocationResult(payload, "Unhandled", 0.0, request_id, True)

    def _exchange(
        self,
        function: _Function,
        worker: WorkerProcess,
        request_id: str,
        payload: bytes,
        cold: bool,
        *,
        log_tail: bool,
    ) -> tuple[InvocationResult, bool]:
        """Run one invocation on ``worker``; returns the result and whether it stays warm."""
        timeout = function.config.timeout_seconds
        started = time.monotonic()
        deadline_ms = int((time.time() + timeout) * 1000)
        reusable = True
        timed_out = False
        flags = wire.FLAG_LOG_TAIL if log_tail else 0
        response = WorkerResponse(wire.STATUS_ERROR, b"")
        try:
            worker.send(request_id.encode(), deadline_ms, payload, flags)
            response = worker.receive(started + timeout)
            status, body = response.status, response.body
        except WorkerTimedOutError:
            worker.kill()
            body = _error_payload(
                "Sandbox.Timedout", f"RequestId: {request_id} Error: {function.timeout_message}"
            )
            status, reusable, timed_out = wire.STATUS_ERROR, False, True
        except (WorkerExitedError, BrokenPipeError):
            if self._closed:
                raise PoolClosedError("the Lambda pool was closed during the invocation") from None
            body = _error_payload(
                "Runtime.ExitError",
                f"RequestId: {request_id} Error: Runtime exited with error: "
                f"{worker.exit_description()}",
            )
            status, reusable = wire.STATUS_ERROR, False
        duration_ms = (time.monotonic() - started) * 1000
        if status == wire.STATUS_OK and len(body) > MAX_RESPONSE_BYTES:
            body = _error_payload(
                "Function.ResponseSizeTooLarge",
                "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes).",
            )
            status = wire.STATUS_ERROR
        elif status not in (wire.STATUS_OK, wire.STATUS_ERROR):
            raise RuntimeError(f"worker protocol error: unexpected status {status}")
        failed = status != wire.STATUS_OK
        with function.cond:
            function.invocations += 1
            function.billed_ms += math.ceil(duration_ms)
            function.errors += failed
            function.timeouts += timed_out
        if response.metrics and self._metrics_sink is not None:
            self._metrics_sink(function.config.function_name, response.metrics)
        result = InvocationResult(
            body, "Unhandled" if failed else None, duration_ms, request_id, cold, response.log_tail
        )
        return result, reusable
