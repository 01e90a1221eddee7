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
7. ``CreateStateMachine`` rejects a ``Next``/``Default``/``StartAt`` naming a missing state, a
   state without exactly one of ``Next`` and ``End``, and text that is not strict JSON, in
   AWS's words (``SCHEMA_VALIDATION_FAILED: ...``).
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
14. The Lambda API runs functions in our workers: ``Invoke`` (``RequestResponse``, ``Event``,
    ``DryRun``, ``LogType: Tail``) and the deployments (``CreateFunction`` and
    ``UpdateFunctionCode`` with a Python zip, ``UpdateFunctionConfiguration``,
    ``PutFunctionConcurrency``, ``DeleteFunction``) reach the runtime's ``lambda_service``.
15. JSONata is evaluated (``jsonata-python``; moto ships the engine slot empty): ``$states``,
    variables and Step Functions' own functions are bound, not pasted into the text; failures
    are ``States.QueryEvaluationError`` with an ``EvaluationFailed`` event naming the field
    (``Output/a[1]/b``). String values in a definition are read with JSON's escapes.
16. Variables take effect when their state exits (``Output`` reads the values at entry); a
    Distributed Map's child workflow reads no outer variable;
    writing an outer scope's variable from a Map or Parallel fails with ``States.Runtime``;
    ``assignedVariables`` are recorded as JSON.
17. A ``States.*`` error inside a Map iteration or Parallel branch reaches it as itself.
18. The context object: ``Execution.StartTime``/``State.EnteredTime`` in milliseconds with
    ``Z``, ``Execution.RedriveCount``.
19. ``StartSyncExecution`` runs an Express execution to its end and answers with AWS's shape
    (``status``, ``output`` or ``error``/``cause``, ``billingDetails``); ``StartExecution`` and
    it refuse input over 262,144 bytes at the call (``InvalidExecutionInput``).
20. A ``Choice`` state's own ``Assign``/``Output`` apply only when its ``Default`` is taken.
21. A redrive runs the definition the execution started with, and a redriven Map re-runs only
    the iterations that did not succeed.
22. A ``Wait`` longer than 99,999,999 seconds fails at once (``States.Runtime``).
23. An invalid ``TimeoutSecondsPath``/``HeartbeatSecondsPath`` fails the task once
    (``TaskFailed``, then one ``ExecutionFailed``).
24. Every request the endpoint serves is metered as AWS bills it (requests per service and
    operation with their sizes, DynamoDB capacity units from moto's items), and the counts are
    served at ``GET /_stepflow/usage`` for :mod:`local.cost`.
25. SQS dead-letter redrive: ``StartMessageMoveTask``, ``ListMessageMoveTasks`` and
    ``CancelMessageMoveTask`` with AWS's checks, rate limit and task states.

:func:`verify_moto_compatible` (in :mod:`.compatibility`) fails loudly, naming the missing
piece, when a moto upgrade moves anything these patches rely on; the test suite calls it.

One module a concern: :mod:`.lambda_tasks` (1), :mod:`.scaled_waits` (2),
:mod:`.dynamodb_atomicity` (3), :mod:`.executions` (4-6, 8), :mod:`.definitions` (7, 9),
:mod:`.hot_paths` (10), :mod:`.redrive` (11), :mod:`.s3_events` (12), :mod:`.sqs_peek` (13),
:mod:`.lambda_invoke` (14),
:mod:`.jsonata` (15), :mod:`.variables` (16), :mod:`.iteration_errors` (17),
:mod:`.context_object` (18), :mod:`.sync_express` and :mod:`.execution_input` (19),
:mod:`.choice_rules` (20), :mod:`.execution_definitions` and :mod:`.map_redrive` (21),
:mod:`.wait_limits` (22), :mod:`.task_timeouts` (23), :mod:`.request_meter` (24),
:mod:`.sqs_message_move` (25);
what they share is in :mod:`.patch_context`, :mod:`.execution_lookup` and
:mod:`.interpreter_failures`.
"""

from __future__ import annotations

import threading

from local.clock import TimeScale
from local.execution_archive import ExecutionArchive
from local.moto_patches.choice_rules import patch_choice_rules
from local.moto_patches.compatibility import verify_moto_compatible
from local.moto_patches.context_object import patch_context_object
from local.moto_patches.definitions import (
    dangling_transitions,
    patch_definition_validation,
    patch_program_cache,
    patch_string_literals,
)
from local.moto_patches.dynamodb_atomicity import patch_dynamodb_atomic_writes
from local.moto_patches.executions import patch_execution_api, patch_execution_lifecycle
from local.moto_patches.hot_paths import patch_hot_paths
from local.moto_patches.iteration_errors import patch_iteration_errors
from local.moto_patches.jsonata import patch_jsonata
from local.moto_patches.lambda_invoke import patch_lambda_api
from local.moto_patches.lambda_tasks import (
    InvocationOutcome,
    LambdaDispatcher,
    LambdaNotFoundError,
    LambdaThrottledError,
    invoke_through_dispatcher,
    patch_lambda_invoke,
)
from local.moto_patches.map_redrive import patch_map_redrive
from local.moto_patches.patch_context import PatchContext, context, moto_module
from local.moto_patches.redrive import (
    RedrivePoint,
    patch_redrive,
    redrive_execution,
    redrive_fields,
    redrive_point,
    redrive_summary,
)
from local.moto_patches.request_meter import (
    METER_AGENT,
    USAGE_PATH,
    metered_usage,
    patch_request_meter,
)
from local.moto_patches.s3_events import complete_s3_record, patch_s3_event_records
from local.moto_patches.scaled_waits import patch_waits
from local.moto_patches.sqs_message_move import patch_sqs_message_move
from local.moto_patches.sqs_peek import visible_sqs_messages
from local.moto_patches.sync_express import patch_sync_express
from local.moto_patches.task_timeouts import patch_task_timeouts
from local.moto_patches.variables import patch_variables
from local.moto_patches.wait_limits import patch_wait_limits

__all__ = [
    "METER_AGENT",
    "USAGE_PATH",
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
    "metered_usage",
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
        patch_lambda_api()
        patch_jsonata()
        patch_string_literals()
        patch_variables()
        patch_iteration_errors()
        patch_context_object()
        patch_sync_express()
        patch_choice_rules()
        patch_map_redrive()
        patch_wait_limits()
        patch_task_timeouts()
        patch_request_meter()
        patch_sqs_message_move()
        _enable_interpreter()
        _installed = True


def _enable_interpreter() -> None:
    default_user_config = moto_module("moto.core.config").default_user_config

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True
