"""Every change the local runtime makes to moto, in one place.

moto (>= 5.2.5) supplies the AWS APIs and, with ``execute_state_machine`` on, an ASL interpreter
derived from LocalStack's. What it lacks for running this stack is patched here, and nowhere else:

1. ``lambda:invoke`` tasks run our Lambda workers instead of needing Docker.
2. ``Wait`` states and ``Retry`` intervals follow a :class:`~local.clock.TimeScale`.
3. DynamoDB writes are serialised, so conditional writes are atomic (stock moto lets two racing
   writers both pass the same condition; dedupe and the breaker's single probe rely on it).
4. Finished executions move to an :class:`~local.execution_archive.ExecutionArchive` (bounded
   memory); ``DescribeExecution``, ``ListExecutions`` and ``GetExecutionHistory`` read both.
5. ``GetExecutionHistory`` honours ``maxResults``, ``nextToken`` and ``reverseOrder``;
   ``ListExecutions`` paginates over live and archived executions alike.
6. ``StartExecution`` validates names as AWS does, names unnamed executions with a UUID, and keeps
   name idempotency across archived executions (``ExecutionAlreadyExists``).
7. ``CreateStateMachine`` rejects a ``Next``/``Default``/``StartAt`` naming a missing state.
8. moto's list of finished interpreter threads is pruned (it otherwise grows forever).
9. Each definition is parsed once: executions get their own copy of the parsed program
   (parsing with ANTLR costs ~9 ms, unpickling a copy ~0.1 ms; sharing one program between
   concurrent executions is unsafe, the interpreter keeps per-execution state on it).
10. Hot paths that moto recomputes on every call are memoised: the list of its service modules
    (an ``os.listdir`` per HTTP request) and JSONPath expressions (jsonpath-ng builds a new yacc
    parser per ``parse``; parsed expressions are immutable, so sharing them is safe).
11. ``RedriveExecution`` (moto has none): a FAILED, TIMED_OUT or ABORTED Standard execution,
    live or archived, re-runs from the top-level state it did not finish (for a failure inside a
    Map or Parallel, that Map or Parallel), with the input that state was entered with, under
    the same execution ARN; the new events follow the old ones in the same history after an
    ``ExecutionRedriven`` event. ``DescribeExecution`` reports ``redriveCount``,
    ``redriveDate`` and ``redriveStatus``; ``ListExecutions`` honours ``redriveFilter`` (its
    items carry ``redriveCount`` for live executions always, for archived ones with the filter:
    only the history knows, and reading every history is the filter's price alone).
12. S3 event notifications carry the whole record S3 sends (``userIdentity``,
    ``requestParameters``, ``responseElements``, the bucket's ``ownerIdentity``, the object's
    ``sequencer`` and ``versionId``), and object keys are URL-encoded as S3 encodes them
    (``/`` kept, a space as ``+``); moto delivers them to SQS in server mode already.
13. Not a patch but a look inside: :func:`visible_sqs_messages` reads a queue's visible count
    in-process, so idle pipe pollers wait without requests (moto's server closes every
    connection: polling an empty queue over HTTP would open and close a socket per poll).
14. SQS dead-letter redrive: ``StartMessageMoveTask``, ``ListMessageMoveTasks`` and
    ``CancelMessageMoveTask`` with AWS's checks, rate limit and task states.

:func:`verify_moto_compatible` (in :mod:`.compatibility`) fails loudly, naming the missing
piece, when a moto upgrade moves anything these patches rely on; the test suite calls it.

One module a concern: :mod:`.lambda_tasks` (1), :mod:`.scaled_waits` (2),
:mod:`.dynamodb_atomicity` (3), :mod:`.executions` (4-6, 8), :mod:`.definitions` (7, 9),
:mod:`.hot_paths` (10), :mod:`.redrive` (11), :mod:`.s3_events` (12), :mod:`.sqs_peek` (13),
:mod:`.sqs_message_move` (14);
what they share is in :mod:`.patch_context` and :mod:`.execution_lookup`.
"""

from __future__ import annotations

import threading

from local.clock import TimeScale
from local.execution_archive import ExecutionArchive
from local.moto_patches.compatibility import verify_moto_compatible
from local.moto_patches.definitions import (
    dangling_transitions,
    patch_definition_validation,
    patch_program_cache,
)
from local.moto_patches.dynamodb_atomicity import patch_dynamodb_atomic_writes
from local.moto_patches.executions import patch_execution_api, patch_execution_lifecycle
from local.moto_patches.hot_paths import patch_hot_paths
from local.moto_patches.lambda_tasks import (
    InvocationOutcome,
    LambdaDispatcher,
    LambdaNotFoundError,
    LambdaThrottledError,
    invoke_through_dispatcher,
    patch_lambda_invoke,
)
from local.moto_patches.patch_context import PatchContext, context, moto_module
from local.moto_patches.redrive import (
    RedrivePoint,
    patch_redrive,
    redrive_execution,
    redrive_fields,
    redrive_point,
    redrive_summary,
)
from local.moto_patches.s3_events import complete_s3_record, patch_s3_event_records
from local.moto_patches.scaled_waits import patch_waits
from local.moto_patches.sqs_message_move import patch_sqs_message_move
from local.moto_patches.sqs_peek import visible_sqs_messages

__all__ = [
    "InvocationOutcome",
    "LambdaDispatcher",
    "LambdaNotFoundError",
    "LambdaThrottledError",
    "PatchContext",
    "RedrivePoint",
    "complete_s3_record",
    "context",
    "dangling_transitions",
    "install",
    "invoke_through_dispatcher",
    "redrive_execution",
    "redrive_fields",
    "redrive_point",
    "redrive_summary",
    "verify_moto_compatible",
    "visible_sqs_messages",
]

_install_lock = threading.Lock()
_installed = False


def install(
    *,
    dispatcher: LambdaDispatcher,
    time_scale: TimeScale,
    archive: ExecutionArchive,
) -> None:
    """Apply every patch (once per process) and point them at this runtime's parts."""
    global _installed  # noqa: PLW0603 - patches are process-wide by nature
    patched = context()
    patched.dispatcher = dispatcher
    patched.time_scale = time_scale
    patched.archive = archive
    with _install_lock:
        if _installed:
            return
        verify_moto_compatible()
        patch_lambda_invoke()
        patch_waits()
        patch_dynamodb_atomic_writes()
        patch_execution_lifecycle()
        patch_execution_api()
        patch_definition_validation()
        patch_program_cache()
        patch_hot_paths()
        patch_redrive()
        patch_s3_event_records()
        patch_sqs_message_move()
        _enable_interpreter()
        _installed = True


def _enable_interpreter() -> None:
    default_user_config = moto_module("moto.core.config").default_user_config

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
