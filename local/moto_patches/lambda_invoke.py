"""Patch 14: the Lambda API runs functions in our workers, not in Docker.

``Invoke`` (``RequestResponse``, ``Event``, ``DryRun``) goes to the worker pool through the
registered :class:`LambdaService`: the payload comes back as the handler returned it, a handler
error as Lambda's error JSON with ``X-Amz-Function-Error: Unhandled``, the log tail in
``X-Amz-Log-Result`` with ``LogType: Tail``. ``CreateFunction``, ``UpdateFunctionCode``,
``UpdateFunctionConfiguration`` and ``Put``/``DeleteFunctionConcurrency`` are checked before moto
stores them (Python zip packages only, as :func:`~local.lambdas.deployments.check_deployable`
says) and deployed to the pool after; ``DeleteFunction`` retires the function's workers.
"""

from __future__ import annotations

import base64
import functools
import inspect
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol
from urllib.parse import unquote

from local.lambdas.deployments import (
    Deployment,
    DeploymentRefusedError,
    check_deployable,
    function_name_of,
)
from local.lambdas.pool import (
    FunctionNotFoundError,
    InvocationResult,
    PoolClosedError,
    RequestTooLargeError,
    TooManyRequestsError,
)
from local.moto_patches.patch_context import context, moto_module

__all__ = ["LambdaService", "patch_lambda_api"]

_log = logging.getLogger(__name__)

_AWS_LAMBDA = "moto.awslambda"
_EVENT_RUNNERS = 8
# The backend methods that change what a function runs (each is followed by a deployment),
# with the parameters the patch reads by name.
DEPLOYING_METHODS: dict[str, tuple[str, ...]] = {
    "create_function": ("spec",),
    "update_function_code": ("function_name", "body"),
    "update_function_configuration": ("function_name", "body"),
    "put_function_concurrency": ("function_name",),
    "delete_function_concurrency": ("function_name",),
    "delete_function": ("function_name", "qualifier"),
}


class LambdaService(Protocol):
    """What the patched Lambda API needs from the runtime (see ``LambdaDeployments``)."""

    def deploy(self, deployment: Deployment, code: bytes | None) -> None: ...

    def remove(self, function_name: str) -> None: ...

    def invoke(
        self, reference: str, payload: bytes, *, log_tail: bool = False
    ) -> InvocationResult: ...


def _error(status: int, error_type: str, message: str, **details: str) -> Exception:
    error: Any = moto_module(f"{_AWS_LAMBDA}.exceptions").LambdaClientError(error_type, message)
    error.code = status
    if details:
        error.description = json.dumps({"__type": error_type, "message": message, **details})
    return error  # type: ignore[no-any-return]


def _refused(refusal: DeploymentRefusedError) -> Exception:
    return _error(400, "InvalidParameterValueException", str(refusal))


def _deployment(function: Any) -> Deployment:
    concurrency = function.reserved_concurrency
    return Deployment(
        function_name=function.function_name,
        runtime=function.run_time,
        handler=function.handler,
        environment=dict(function.environment_vars or {}),
        timeout_seconds=int(function.timeout),
        memory_mb=int(function.memory_size),
        reserved_concurrency=None if concurrency is None else int(concurrency),
        code_sha256=getattr(function, "code_digest", "") or "no-code",
    )


def _zip_of(code: dict[str, Any] | None) -> bytes | None:
    if not code or "ZipFile" not in code:
        return None
    try:
        return base64.b64decode(code["ZipFile"])
    except ValueError:
        raise DeploymentRefusedError(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from None


def _checked(method: str, args: dict[str, Any]) -> None:
    """Refuse, before moto stores anything, what the local service could not run."""
    try:
        if method == "create_function":
            spec = args["spec"]
            check_deployable(
                runtime=spec.get("Runtime"),
                package_type=spec.get("PackageType", "Zip"),
                code=_zip_of(spec.get("Code")),
                environment=(spec.get("Environment") or {}).get("Variables"),
            )
        elif method == "update_function_code":
            body = args["body"]
            if "ImageUri" in body:
                check_deployable(package_type="Image")
            check_deployable(code=_zip_of(body))
        elif method == "update_function_configuration":
            body = args["body"]
            check_deployable(
                runtime=body.get("Runtime"),
                environment=(body.get("Environment") or {}).get("Variables"),
            )
    except DeploymentRefusedError as refusal:
        raise _refused(refusal) from refusal


def _deploy(backend: Any, method: str, args: dict[str, Any], result: Any) -> None:
    service = context().lambda_service
    if service is None:  # provisioning: the runtime deploys the stack's functions itself
        return
    if method == "delete_function":
        if args.get("qualifier") is None:  # deleting a published version leaves $LATEST running
            service.remove(function_name_of(args["function_name"]))
        return
    name = result.function_name if method == "create_function" else args["function_name"]
    function = backend.get_function(name)
    new_code = method in ("create_function", "update_function_code")
    service.deploy(_deployment(function), function.code_bytes if new_code else None)


def _deploying(method: str, original: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def deploying(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        _checked(method, bound.arguments)
        result = original(self, *args, **kwargs)
        _deploy(self, method, bound.arguments, result)
        return result

    return deploying


def _invoke_response(self: Any) -> tuple[int, dict[str, str], bytes]:
    """``LambdaResponse.invoke``: the function's own answer, through the worker pool."""
    function_name = unquote(self.path.rsplit("/", 2)[-2])
    qualifier = self.querystring.get("Qualifier", [None])[0]
    function = self.backend.get_function(function_name, qualifier)  # 404 in Lambda's shape
    name = function.function_name
    headers = {k.lower(): v for k, v in self.headers.items()}
    invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
    service = context().lambda_service
    if service is None:
        raise _error(500, "ServiceException", "the local Lambda service is not running")
    payload = bytes(self.raw_body or b"")
    if payload:
        try:
            json.loads(payload)
        except ValueError as error:  # refused before anything runs, as Lambda does
            raise _error(
                400,
                "InvalidRequestContentException",
                f"Could not parse request body into json: {error}",
            ) from error
    if invocation_type == "DryRun":
        return 204, {"status": "204"}, b""
    if invocation_type == "Event":
        _event_queue().submit(_invoke_event, service, name, payload)
        return 202, {"status": "202"}, b""
    try:
        result = service.invoke(name, payload, log_tail=headers.get("x-amz-log-type") == "Tail")
    except TooManyRequestsError as error:
        raise _error(
            429,
            "TooManyRequestsException",
            "Rate Exceeded.",
            Reason="ReservedFunctionConcurrentInvocationLimitExceeded",
            Type="User",
        ) from error
    except RequestTooLargeError as error:
        raise _error(413, "RequestEntityTooLargeException", str(error)) from error
    except (FunctionNotFoundError, PoolClosedError) as error:
        raise _error(404, "ResourceNotFoundException", str(error)) from error
    response_headers = {
        "content-type": "application/json",
        "x-amz-executed-version": "$LATEST",
    }
    if result.function_error:
        response_headers["x-amz-function-error"] = result.function_error
    if result.log_tail:
        response_headers["x-amz-log-result"] = base64.b64encode(result.log_tail).decode()
    return 200, response_headers, result.payload


@functools.cache
def _event_queue() -> ThreadPoolExecutor:
    # Lambda's internal queue for Event invocations: a flood waits here, not in a thread each.
    return ThreadPoolExecutor(max_workers=_EVENT_RUNNERS, thread_name_prefix="lambda-event")


def _invoke_event(service: LambdaService, function_name: str, payload: bytes) -> None:
    # Lambda queues an Event invocation and answers 202 before it runs; its outcome goes to the
    # function's log, as on AWS (no destination is configured locally).
    try:
        service.invoke(function_name, payload)
    except Exception:
        _log.exception("asynchronous invocation of %s failed", function_name)


def patch_lambda_api() -> None:
    backend_class = moto_module(f"{_AWS_LAMBDA}.models").LambdaBackend
    for method in DEPLOYING_METHODS:
        setattr(backend_class, method, _deploying(method, getattr(backend_class, method)))
    moto_module(f"{_AWS_LAMBDA}.responses").LambdaResponse.invoke = _invoke_response
