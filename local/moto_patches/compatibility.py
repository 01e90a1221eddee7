"""The guard against moto upgrades: everything the patches rely on, checked in one place."""

from __future__ import annotations

import inspect
from typing import Any

from local.moto_patches.dynamodb_atomicity import DYNAMODB_WRITES
from local.moto_patches.lambda_invoke import DEPLOYING_METHODS
from local.moto_patches.request_meter import DYNAMODB_METERED


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

    def need_assigned(module: str, code: str, *fields: str) -> None:
        # Attributes moto sets without annotating them: read where they are assigned.
        try:
            source = inspect.getsource(_resolve(module, code))
        except (ImportError, AttributeError, OSError, TypeError):
            missing.append(f"{module}.{code}")
            return
        missing.extend(
            f"{module}.{code} (setting self.{name})"
            for name in fields
            if f"self.{name}" not in source
        )

    def need_parameters(module: str, code: str, *names: str) -> None:
        try:
            parameters = inspect.signature(_resolve(module, code)).parameters
        except (ImportError, AttributeError, TypeError, ValueError):
            missing.append(f"{module}.{code}")
            return
        missing.extend(f"{module}.{code}({name}=...)" for name in names if name not in parameters)

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
    # 14. the Lambda API: invoke and deployments through our workers, metrics from EMF
    for method, parameters in DEPLOYING_METHODS.items():
        need_parameters("moto.awslambda.models", f"LambdaBackend.{method}", *parameters)
    need("moto.awslambda.models", "LambdaBackend.get_function")
    need("moto.awslambda.responses", "LambdaResponse.invoke")
    need("moto.awslambda.exceptions", "LambdaClientError")
    need_assigned(
        "moto.awslambda.models",
        "LambdaFunction.__init__",
        "function_name",
        "run_time",
        "handler",
        "environment_vars",
        "timeout",
        "memory_size",
        "reserved_concurrency",
    )
    need_assigned(
        "moto.awslambda.models", "LambdaFunction._set_function_code", "code_bytes", "code_digest"
    )
    need("moto.cloudwatch.models", "cloudwatch_backends", "CloudWatchBackend.put_metric_data")
    # 15. JSONata
    string_expression = "moto.stepfunctions.parser.asl.component.common.string.string_expression"
    need(string_expression, "StringJSONata._eval_body", "StringVariableSample._eval_body")
    need_fields(string_expression, "StringJSONata", "expression")
    need_fields(string_expression, "StringVariableSample", "expression", "query_language_mode")
    need("moto.stepfunctions.parser.asl.component.common.query_language", "QueryLanguageMode")
    need("moto.stepfunctions.parser.asl.component.eval_component", "EvalComponent")
    need("moto.stepfunctions.parser.asl.component.state.state", "CommonStateField")
    need_fields("moto.stepfunctions.parser.asl.eval.states", "States", "_states_data")
    error_names = "moto.stepfunctions.parser.asl.component.common.error_name"
    need(f"{error_names}.failure_event", "FailureEvent", "FailureEventException")
    need(f"{error_names}.states_error_name", "StatesErrorName.from_name")
    need(f"{error_names}.states_error_name_type", "StatesErrorNameType.StatesRuntime")
    need(f"{error_names}.states_error_name_type", "StatesErrorNameType.StatesQueryEvaluationError")
    need(
        "moto.stepfunctions.parser.api",
        "HistoryEventType.EvaluationFailed",
        "EvaluationFailedEventDetails",
        "TaskFailedEventDetails",
    )
    need("moto.stepfunctions.parser.asl.parse.preprocessor", "Preprocessor._inner_string_of")
    need("moto.stepfunctions.parser.asl.antlt4utils.antlr4utils", "is_terminal")
    need("moto.stepfunctions.parser.asl.antlr.runtime.ASLLexer", "ASLLexer.NULL")
    # 16. variables
    variable_store = "moto.stepfunctions.parser.asl.eval.variable_store"
    need(variable_store, "VariableStore.set", "VariableStore.get_assigned_variables")
    need(variable_store, "IllegalOuterScopeWrite")
    need_fields(
        variable_store, "VariableStore", "_outer_scope", "_inner_scope", "_declaration_tracing"
    )
    need("moto.stepfunctions.parser.asl.component.common.assign.assign_decl", "AssignDecl")
    need(
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor"
        ".distributed_item_processor_worker",
        "DistributedItemProcessorWorker._eval_job",
    )
    # 17. States.* errors inside Map iterations
    need(
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker",
        "CustomErrorName",
    )
    need(
        "moto.stepfunctions.parser.asl.component.state.exec.state_parallel.branches_decl",
        "CustomErrorName",
    )
    need(f"{error_names}.error_name", "ErrorName")
    need(f"{error_names}.failure_event", "FailureEventException.get_execution_failed_event_details")
    # 18. the context object
    need("moto.stepfunctions.parser.asl.component.state.state", "StateData")
    # 19. StartSyncExecution
    need(
        "moto.stepfunctions.parser.backend.execution",
        "SyncExecution.to_start_sync_execution_output",
        "Execution.start",
    )
    need("moto.stepfunctions.parser.models", "StepFunctionsParserBackend.describe_state_machine")
    # 20. Choice rules
    need(
        "moto.stepfunctions.parser.asl.component.state.choice.state_choice",
        "StateChoice._eval_state",
        "StateChoice._eval_state_output",
    )
    need_fields(
        "moto.stepfunctions.parser.asl.component.state.choice.state_choice",
        "StateChoice",
        "choices_decl",
        "default_state",
    )
    # 21. Map redrive and the started definition
    iteration_worker = (
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iteration_worker"
    )
    need(iteration_worker, "IterationWorker._eval_job")
    need_fields(iteration_worker, "IterationWorker", "_work_name")
    need_fields(
        "moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.job",
        "Job",
        "job_index",
        "job_output",
    )
    need_fields(execution, "Execution", "state_machine")
    # 22. Wait limits
    need(
        "moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function",
        "WaitFunction._eval_body",
        "WaitFunction._get_wait_seconds",
    )
    # 23. TimeoutSecondsPath / HeartbeatSecondsPath
    timeouts = "moto.stepfunctions.parser.asl.component.common.timeouts"
    need(f"{timeouts}.timeout", "TimeoutSecondsPath._eval_seconds")
    need(f"{timeouts}.heartbeat", "HeartbeatSecondsPath._eval_seconds")
    need_fields(f"{timeouts}.timeout", "TimeoutSecondsPath", "string_sampler")
    need_fields(f"{timeouts}.heartbeat", "HeartbeatSecondsPath", "string_sampler")
    need("moto.stepfunctions.parser.asl.utils.json_path", "NoSuchJsonPathError")
    # 24. the request meter
    need("moto.moto_server.werkzeug_app", "DomainDispatcherApplication.__call__")
    need(
        "moto.dynamodb.models",
        *(f"DynamoDBBackend.{m}" for m in (*DYNAMODB_METERED, "transact_write_items")),
    )
    need("moto.dynamodb.models.dynamo_type", "Item.size")
    # 25. SQS message move tasks
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


def _resolve(module: str, dotted: str) -> Any:
    target: Any = __import__(module, fromlist=["_"])
    for part in dotted.split("."):
        target = getattr(target, part)
    return target
