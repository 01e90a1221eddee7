"""Patch 18: ``StartSyncExecution`` for Express state machines (moto has none).

The call runs the execution to its end and answers with AWS's shape: ``status`` (``SUCCEEDED``,
``FAILED`` or ``TIMED_OUT``; HTTP 200 even when the execution failed), ``output`` or
``error``/``cause``, and ``billingDetails`` (duration rounded up to 100 ms, memory in 64 MB
units, as Express is billed). A Standard machine is refused with
``StateMachineTypeNotSupported``. Like AWS, the execution is not listed or described afterwards
(Express executions have no history API).

boto3 and the AWS CLI send this one operation to the ``sync-`` host prefix
(``sync-states.<region>.amazonaws.com``); against a local endpoint that prefix would be put in
front of ``127.0.0.1``: clients turn it off with ``inject_host_prefix=False`` (boto3 ``Config``)
or ``AWS_DISABLE_HOST_PREFIX_INJECTION=true`` (CLI and SDKs). The server itself routes by path
and does not care which host a request names.
(https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartSyncExecution.html)
"""

from __future__ import annotations

import copy
import datetime as dt
import math
import uuid
from typing import Any

from local.moto_patches.execution_input import check_execution_input, service_error
from local.moto_patches.patch_context import moto_module

_BILLED_DURATION_UNIT_MS = 100
_BILLED_MEMORY_UNIT_MB = 64


def billing_details(start: dt.datetime, stop: dt.datetime) -> dict[str, int]:
    """What an Express execution from ``start`` to ``stop`` is billed for.

    >>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> billing_details(t0, t0 + dt.timedelta(milliseconds=101))
    {'billedMemoryUsedInMB': 64, 'billedDurationInMilliseconds': 200}
    """
    elapsed_ms = max((stop - start) / dt.timedelta(milliseconds=1), 1)
    units = math.ceil(elapsed_ms / _BILLED_DURATION_UNIT_MS)
    return {
        "billedMemoryUsedInMB": _BILLED_MEMORY_UNIT_MB,
        "billedDurationInMilliseconds": units * _BILLED_DURATION_UNIT_MS,
    }


def start_sync_execution(
    backend: Any,
    state_machine_arn: str,
    name: str | None,
    execution_input: str | None,
    trace_header: str | None,
) -> dict[str, Any]:
    """Run an Express execution to its end; ``StartSyncExecution``'s answer."""
    SyncExecution = moto_module("moto.stepfunctions.parser.backend.execution").SyncExecution

    machine = backend.describe_state_machine(state_machine_arn)
    if str(machine.type) != "EXPRESS":
        raise service_error(
            "StateMachineTypeNotSupported",
            "This operation is not supported by this type of state machine",
        )
    check_execution_input(execution_input)
    name = name or str(uuid.uuid4())
    execution_arn = (
        f"arn:{backend.partition}:states:{backend.region_name}:{backend.account_id}"
        f":express:{machine.name}:{name}:{uuid.uuid4()}"
    )
    # A snapshot of the machine, as moto's start_execution takes one.
    snapshot = copy.deepcopy(
        machine, {id(machine.executions): [], id(machine.backend): machine.backend}
    )
    execution = SyncExecution(
        name=name,
        sm_type=snapshot.sm_type,
        role_arn=snapshot.roleArn,
        exec_arn=execution_arn,
        account_id=backend.account_id,
        region_name=backend.region_name,
        state_machine=snapshot,
        start_date=dt.datetime.now(tz=dt.UTC),
        cloud_watch_logging_session=None,
        input_data=execution_input or "{}",
        trace_header=trace_header,
        activity_store={},
    )
    execution.local_unlisted = True
    execution.start()  # moto's sync worker runs the program on this thread, to its end
    answer = {k: v for k, v in execution.to_start_sync_execution_output().items() if v is not None}
    answer["status"] = str(getattr(answer["status"], "value", answer["status"]))
    answer["billingDetails"] = billing_details(execution.start_date, execution.stop_date)
    return answer


def patch_sync_express() -> None:
    ActionResult = moto_module("moto.core.responses").ActionResult
    StepFunctionResponse = moto_module("moto.stepfunctions.responses").StepFunctionResponse

    def start_sync(self: Any) -> Any:
        return ActionResult(
            start_sync_execution(
                self.stepfunction_backend,
                self._get_param("stateMachineArn"),
                self._get_param("name"),
                self._get_param("input"),
                self._get_param("traceHeader"),
            )
        )

    # moto dispatches the action StartSyncExecution to a method named start_sync_execution.
    StepFunctionResponse.start_sync_execution = start_sync
