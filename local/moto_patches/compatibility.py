"""The guard against moto upgrades: everything the patches rely on, checked in one place."""

from __future__ import annotations

from typing import Any

from local.moto_patches.dynamodb_atomicity import DYNAMODB_WRITES


def verify_moto_compatible() -> None:
    """Raise ``RuntimeError`` naming each moto internal that these patches need and cannot find."""
    missing: list[str] = []

    def need_fields(module: str, cls: str, *fields: str) -> None:
        # Instance attributes only show in a class's annotations; moto annotates the ones used.
        try:
            owner: Any = getattr(__import__(module, fromlist=["_"]), cls)
        except (ImportError, AttributeError):
            missing.append(f"{module}.{cls}")
            return
        for name in fields:
            annotated = any(name in getattr(k, "__annotations__", {}) for k in owner.__mro__)
            if not annotated and not hasattr(owner, name):
                missing.append(f"{module}.{cls}.{name}")

    def need(module: str, *attributes: str) -> None:
        try:
            target: Any = __import__(module, fromlist=["_"])
        except ImportError:
            missing.append(module)
            return
        for dotted in attributes:
            obj = target
            for part in dotted.split("."):
                if not hasattr(obj, part):
                    missing.append(f"{module}.{dotted}")
                    break
                obj = getattr(obj, part)

    state_task = "moto.stepfunctions.parser.asl.component.state.exec.state_task"
    need(f"{state_task}.lambda_eval_utils", "_invoke_lambda_function")
    need(
        "moto.stepfunctions.parser.asl.component.common.retry.retrier_decl",
        "RetrierDecl._eval_body",
        "RetrierOutcome",
        "MaxAttemptsOutcome",
    )
    need(
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
        "WaitFunction._wait_interval",
    )
    need("moto.dynamodb.models", *(f"DynamoDBBackend.{m}" for m in DYNAMODB_WRITES))
    need(
        "moto.stepfunctions.parser.backend.execution",
        "BaseExecutionWorkerCommunication.terminated",
        "Execution.to_describe_output",
        "Execution.to_history_output",
        "Execution.to_execution_list_item",
    )
    need(
        "moto.stepfunctions.parser.asl.eval.event.event_manager",
        "EventManager.get_event_history",
    )
    need(
        "moto.stepfunctions.parser.models",
        "StepFunctionsParserBackend.start_execution",
        "StepFunctionsParserBackend.create_state_machine",
        "stepfunctions_parser_backends",
    )
    need(
        "moto.stepfunctions.responses",
        "StepFunctionResponse.describe_execution",
        "StepFunctionResponse.list_executions",
        "StepFunctionResponse.get_execution_history",
        "StepFunctionResponse.start_execution",
    )
    need("moto.stepfunctions.parser.utils", "TMP_THREADS")
    need(
        "moto.stepfunctions.parser.backend.execution_worker",
        "ExecutionWorker._get_evaluation_entrypoint",
        "AmazonStateLanguageParser.parse",
    )
    need("moto.core.config", "default_user_config")
    need("moto.backends", "list_of_moto_modules")
    need("moto.stepfunctions.parser.asl.utils.json_path", "parse")
    need("moto.stepfunctions.parser.asl.component.common.path.result_path", "parse")
    # 11. RedriveExecution
    execution = "moto.stepfunctions.parser.backend.execution"
    need(execution, "Execution._get_start_execution_worker", "Execution.to_describe_output")
    need_fields(execution, "Execution", "exec_worker", "exec_status", "start_date", "name")
    execution_worker = "moto.stepfunctions.parser.backend.execution_worker"
    need(execution_worker, "ExecutionWorker._get_evaluation_environment")
    need_fields(execution_worker, "ExecutionWorker", "env", "_execution_communication")
    event_manager = "moto.stepfunctions.parser.asl.eval.event.event_manager"
    need(event_manager, "EventManager.add_event", "EventIdGenerator.get")
    need_fields(event_manager, "EventManager", "_event_id_gen", "_history_event_list")
    need_fields(event_manager, "EventIdGenerator", "_next_id")
    need_fields(event_manager, "EventHistoryContext", "source_event_id", "last_published_event_id")
    need_fields(
        "moto.stepfunctions.parser.asl.eval.environment",
        "Environment",
        "event_manager",
        "event_history_context",
        "states",
    )
    need("moto.stepfunctions.parser.asl.eval.states", "States.reset")
    need("moto.stepfunctions.parser.asl.eval.event.event_detail", "EventDetails")
    need(
        "moto.stepfunctions.parser.api",
        "HistoryEventType.ExecutionRedriven",
        "ExecutionStatus.RUNNING",
    )
    need("moto.core.exceptions", "AWSError")
    # 12. S3 event records
    need("moto.s3.notifications", "_get_s3_event", "send_event")
    # 13. visible SQS messages
    need("moto.sqs.models", "sqs_backends", "SQSBackend.get_queue")
    need("moto.sqs.models", "Queue.approximate_number_of_messages")
    # 14. SQS message move tasks
    need("moto.sqs.responses", "SQSResponse.sqs_backend", "SQSResponse._get_param")
    need(
        "moto.sqs.models",
        "SQSBackend.list_dead_letter_source_queues",
        "SQSBackend.receive_message",
        "SQSBackend.send_message",
        "SQSBackend.delete_message",
        "Queue.approximate_number_of_messages_not_visible",
    )
    need("moto.sqs.exceptions", "SQSException", "QueueDoesNotExist")
    if missing:
        raise RuntimeError(
            "moto no longer has what local/moto_patches/ patches: "
            + ", ".join(missing)
            + ". Pin moto to the version in requirements.txt or update the patches."
        )
