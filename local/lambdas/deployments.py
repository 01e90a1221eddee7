"""The local Lambda service: functions deployed through the Lambda API, run by the stack's pool.

``CreateFunction`` and ``UpdateFunctionCode`` unpack the zip into
``<packages_dir>/<function>/<code sha256>/`` and give the pool a worker configuration with that
directory as the function's only code on ``sys.path``; ``UpdateFunctionConfiguration`` and
``PutFunctionConcurrency`` keep the code and change the rest. The stack's own functions are in
the same pool (they run from the repository until their code is replaced through the API), so
``Invoke``, Step Functions Task states and the stack itself reach every function the same way.

Example::

    service = LambdaDeployments(pool, packages_dir=Path(".state/functions"))
    service.deploy(Deployment("hello", "python3.13", "app.handler", {}, 3, 128, None, "ab12..."),
                   code=zip_bytes)
    result = service.invoke("arn:aws:lambda:us-east-1:123456789012:function:hello", b"{}")
"""

from __future__ import annotations

import io
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from local.lambdas.pool import (
    RESERVED_ENVIRONMENT_KEYS,
    FunctionNotFoundError,
    InvocationResult,
    LambdaPool,
    WorkerConfig,
)

__all__ = [
    "PYTHON_RUNTIMES",
    "Deployment",
    "DeploymentRefusedError",
    "LambdaDeployments",
    "check_deployable",
    "function_name_of",
]

# The Python runtimes Lambda supports; the worker runs each on the local interpreter.
PYTHON_RUNTIMES = ("python3.9", "python3.10", "python3.11", "python3.12", "python3.13")


class DeploymentRefusedError(ValueError):
    """A deployment Lambda refuses, with the text of its ``InvalidParameterValueException``."""


@dataclass(frozen=True, slots=True)
class Deployment:
    """A function's ``$LATEST`` as the Lambda API holds it."""

    function_name: str
    runtime: str | None
    handler: str | None
    environment: Mapping[str, str]
    timeout_seconds: int
    memory_mb: int
    reserved_concurrency: int | None
    code_sha256: str


def function_name_of(reference: str) -> str:
    """The function name in a name, a partial ARN or an ARN, with or without a qualifier.

    >>> function_name_of("arn:aws:lambda:us-east-1:123456789012:function:hello:$LATEST")
    'hello'
    >>> function_name_of("hello")
    'hello'
    """
    return reference.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]


def check_deployable(
    *,
    runtime: str | None = None,
    package_type: str | None = None,
    code: bytes | None = None,
    environment: Mapping[str, str] | None = None,
) -> None:
    """Raise :class:`DeploymentRefusedError` for what the local service cannot run or Lambda
    refuses; ``None`` means "not part of this request"."""
    if package_type not in (None, "Zip"):
        raise DeploymentRefusedError(
            f"The package type {package_type} is not supported for creating or updating "
            "functions on the local Lambda service. Use a .zip file archive with a Python "
            "runtime."
        )
    if runtime is not None and runtime not in PYTHON_RUNTIMES:
        raise DeploymentRefusedError(
            f"The runtime parameter of {runtime} is not supported for creating or updating "
            "functions on the local Lambda service. We recommend you use the new runtime "
            f"({PYTHON_RUNTIMES[-1]}) while creating or updating functions."
        )
    if code is not None and not zipfile.is_zipfile(io.BytesIO(code)):
        raise DeploymentRefusedError(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        )
    reserved = sorted(RESERVED_ENVIRONMENT_KEYS.intersection(environment or {}))
    if reserved:
        raise DeploymentRefusedError(
            "Lambda was unable to configure your environment variables because the environment "
            "variables you have provided contains reserved keys that are currently not "
            f"supported for modification. Reserved keys used in this request: {','.join(reserved)}"
        )


class LambdaDeployments:
    """Deploys functions into ``pool`` and invokes them by name or ARN."""

    def __init__(self, pool: LambdaPool, packages_dir: Path) -> None:
        self._pool = pool
        self._packages_dir = Path(packages_dir)

    def deploy(self, deployment: Deployment, code: bytes | None) -> None:
        """Run ``deployment`` from now on. ``code`` is the new zip, or None to keep the code the
        function runs (its package, or the repository for the stack's own functions)."""
        name = deployment.function_name
        if code is not None:
            code_root: Path | None = self._unpack(name, deployment.code_sha256, code)
        else:
            try:
                code_root = self._pool.config(name).code_root
            except FunctionNotFoundError:
                raise ValueError(f"function {name!r} has no code to run") from None
        self._pool.put_function(
            WorkerConfig(
                function_name=name,
                handler=deployment.handler or "",
                environment=dict(deployment.environment),
                timeout_seconds=float(deployment.timeout_seconds),
                memory_mb=deployment.memory_mb,
                reserved_concurrency=deployment.reserved_concurrency,
                code_root=code_root,
            )
        )

    def remove(self, function_name: str) -> None:
        self._pool.remove_function(function_name)
        shutil.rmtree(self._packages_dir / function_name, ignore_errors=True)

    def invoke(self, reference: str, payload: bytes, *, log_tail: bool = False) -> InvocationResult:
        """Invoke synchronously. As on AWS, only a function with reserved concurrency is
        throttled (:class:`~local.lambdas.pool.TooManyRequestsError`); the others queue for
        one of the machine's workers."""
        name = function_name_of(reference)
        reserved = self._pool.config(name).reserved_concurrency
        return self._pool.invoke(
            name, payload, wait_for_capacity=reserved is None, log_tail=log_tail
        )

    def _unpack(self, function_name: str, code_sha256: str, code: bytes) -> Path:
        target = self._packages_dir / function_name / code_sha256
        if target.is_dir():  # the same code again: the directory is never changed once there
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=target.parent))
        try:
            with zipfile.ZipFile(io.BytesIO(code)) as archive:
                # extractall drops absolute paths and "..", so a package stays in its directory.
                archive.extractall(staging)
            staging.rename(target)
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
            if not target.is_dir():  # not a racing deploy of the same code
                raise
        return target
