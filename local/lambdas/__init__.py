"""Lambda functions run as on AWS: a warm, reused worker process per concurrent invocation.

See :class:`LambdaPool`; :mod:`local.lambdas.worker` is the runtime that runs inside each worker;
:mod:`local.lambdas.deployments` deploys functions created through the Lambda API into the pool.
"""

from local.lambdas.pool import (
    FunctionNotFoundError,
    InvocationResult,
    LambdaPool,
    PoolClosedError,
    RequestTooLargeError,
    TooManyRequestsError,
    WorkerConfig,
)

__all__ = [
    "FunctionNotFoundError",
    "InvocationResult",
    "LambdaPool",
    "PoolClosedError",
    "RequestTooLargeError",
    "TooManyRequestsError",
    "WorkerConfig",
]
