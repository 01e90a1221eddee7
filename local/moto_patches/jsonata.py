"""Patch 14: JSONata, evaluated by ``jsonata-python`` (moto 5.2.5 ships the engine slot empty).

moto's interpreter (LocalStack's) parses ``QueryLanguage``, ``Arguments``, ``Output``,
``Assign``, ``{% %}`` templates and ``$states``, then evaluates each expression by pasting every
value it may read into the expression's text as JSON literals and handing the text to a JVM it
does not have. Here each expression is parsed once and evaluated with real bindings instead:
``$states`` (``input``, ``context``, ``result``, ``errorOutput``), the variables in scope, and the
functions Step Functions adds to JSONata 2.0 (``$partition``, ``$range``, ``$hash``, ``$random``
with an optional seed, ``$uuid``, ``$parse``; ``$eval`` is refused). Binding rather than pasting
keeps quotes inside string variables intact and costs no re-parse of the data on every
evaluation.

Failures read as AWS records them: ``States.QueryEvaluationError`` with an ``EvaluationFailed``
event naming the state, for an expression that throws, returns nothing (undefined) or returns a
function (https://docs.aws.amazon.com/step-functions/latest/dg/transforming-data.html).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import random
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from local.moto_patches.interpreter_failures import states_failure
from local.moto_patches.patch_context import moto_module

_HASH_ALGORITHMS: dict[str, Callable[[bytes], Any]] = {
    "MD5": hashlib.md5,
    "SHA-1": hashlib.sha1,
    "SHA-256": hashlib.sha256,
    "SHA-384": hashlib.sha384,
    "SHA-512": hashlib.sha512,
}
_QUERY_EVALUATION_ERROR = "States.QueryEvaluationError"
# jsonata-python ships no type information: imported untyped, as moto is.
jsonata_engine: Any = importlib.import_module("jsonata")


class QueryEvaluationError(Exception):
    """An expression that cannot give a JSON value; ``str(error)`` is AWS's cause text."""


def _plain(value: Any) -> Any:
    """jsonata-python's values as JSON values: its ``null`` marker and sequences unwrapped."""
    utils = jsonata_engine.utils.Utils
    if isinstance(value, utils.NullValue):
        return None
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2**53 else value
    raise QueryEvaluationError("returned an unsupported result type.")


def _partition(array: Any, chunk_size: Any) -> list[Any]:
    items = list(array or [])
    size = int(chunk_size)
    if size <= 0:
        raise QueryEvaluationError("$partition needs a chunk size of at least 1.")
    return [items[start : start + size] for start in range(0, len(items), size)]


def _range(first: Any, last: Any, step: Any) -> list[Any]:
    if step == 0:
        raise QueryEvaluationError("$range needs a step other than 0.")
    values: list[Any] = []
    current = first
    while (step > 0 and current <= last) or (step < 0 and current >= last):
        values.append(current)
        current += step
    return values


def _hash(value: Any, algorithm: Any) -> str:
    digest = _HASH_ALGORITHMS.get(str(algorithm))
    if digest is None:
        allowed = ", ".join(_HASH_ALGORITHMS)
        raise QueryEvaluationError(f"$hash supports {allowed}, not {algorithm!r}.")
    text = value if isinstance(value, str) else json.dumps(_plain(value), separators=(",", ":"))
    return str(digest(text.encode("utf-8")).hexdigest())


def _random(seed: Any = None) -> float:
    return random.Random(seed).random() if seed is not None else random.random()


def _parse(text: Any) -> Any:
    try:
        return json.loads(str(text))
    except json.JSONDecodeError as error:
        raise QueryEvaluationError(f"$parse could not parse {text!r}: {error}") from error


def _no_eval(*_: Any) -> Any:
    raise QueryEvaluationError("The function $eval is not supported; use $parse.")


def _step_functions_functions() -> dict[str, Any]:
    lambda_of = jsonata_engine.Jsonata.JLambda
    return {
        "partition": lambda_of(_partition),
        "range": lambda_of(_range),
        "hash": lambda_of(_hash),
        "random": lambda_of(_random),
        "uuid": lambda_of(lambda: str(uuid.uuid4())),
        "parse": lambda_of(_parse),
        "eval": lambda_of(_no_eval),
    }


_FUNCTIONS = _step_functions_functions()
# A parsed expression keeps evaluation state on itself: one per expression per thread.
_parsed = threading.local()


def _expression(text: str) -> Any:
    cache: dict[str, Any] | None = getattr(_parsed, "cache", None)
    if cache is None:
        cache = _parsed.cache = {}
    parsed = cache.get(text)
    if parsed is None:
        if len(cache) > 512:
            cache.clear()
        try:
            parsed = jsonata_engine.Jsonata(text)
        except jsonata_engine.JException as error:
            raise QueryEvaluationError(f"threw an error during evaluation. {error}") from error
        parsed.set_output_convert_nulls(False)
        cache[text] = parsed
    return parsed


def evaluate(expression: str, bindings: Mapping[str, Any]) -> Any:
    """The JSON value of a JSONata ``expression`` (no input document: data comes in bindings).

    >>> evaluate("$partition($states.input.items, 2)", {"states": {"input": {"items": [1, 2, 3]}}})
    [[1, 2], [3]]
    """
    try:
        result = _expression(expression).evaluate(None, {**_FUNCTIONS, **bindings})
    except QueryEvaluationError:
        raise
    except Exception as error:
        cause = error.__cause__ if isinstance(error.__cause__, QueryEvaluationError) else error
        raise QueryEvaluationError(f"threw an error during evaluation. {cause}") from error
    if result is None:
        raise QueryEvaluationError("returned nothing (undefined).")
    return _plain(result)


def variable_bindings(env: Any) -> dict[str, Any]:
    """The variables the current scope can read, inner ones over outer ones."""
    store = env.variable_store
    return {**store._outer_scope, **store._inner_scope}


def _raise_evaluation_failed(env: Any, component: Any, reason: str) -> None:
    api = moto_module("moto.stepfunctions.parser.api")
    EventDetails = moto_module("moto.stepfunctions.parser.asl.eval.event.event_detail").EventDetails

    field = getattr(component, "local_field_path", None) or env.next_field_name
    where = f" specified for the field '{field}'" if field else ""
    details = {"cause": f"The JSONata expression '{component.expression}'{where} {reason}"}
    if field:
        details["location"] = field
    exception = states_failure(env, _QUERY_EVALUATION_ERROR, "EvaluationFailed", details)
    # moto's own JSONata checks record the event themselves, before the state fails.
    env.event_manager.add_event(
        context=env.event_history_context,
        event_type=api.HistoryEventType.EvaluationFailed,
        event_details=EventDetails(
            evaluationFailedEventDetails=exception.get_evaluation_failed_event_details()
        ),
    )
    raise exception


# The ASL field a component class stands for, where its name does not start with the field's.
_FIELD_OF_CLASS = {
    "AssignDecl": "Assign",
    "ConditionJSONataLit": "Condition",
    "ConditionStringJSONata": "Condition",
    "ErrorDecl": "Error",
    "CauseDecl": "Cause",
}
_FIELD_PREFIXES = (
    "Output",
    "Arguments",
    "ItemSelector",
    "Items",
    "TimeoutSeconds",
    "HeartbeatSeconds",
    "MaxConcurrency",
    "MaxItems",
    "ToleratedFailureCount",
    "ToleratedFailurePercentage",
    "Seconds",
    "Timestamp",
    "Error",
    "Cause",
)
_BINDINGS = ("JSONataTemplateBinding", "AssignTemplateBinding")


def _field_of(node: Any) -> str | None:
    name = type(node).__name__
    if name in _FIELD_OF_CLASS:
        return _FIELD_OF_CLASS[name]
    return next((field for field in _FIELD_PREFIXES if name.startswith(field)), None)


@dataclass(frozen=True)
class JSONataSite:
    """Where a JSONata expression is written: its state and the field within it."""

    state: str
    field: str
    expression: str


def annotate_field_paths(program: Any) -> list[JSONataSite]:
    """Name on each JSONata expression of ``program`` the field it is written in, as AWS names
    it in a failure's cause: relative to its state, ``/`` before each object key, ``[i]`` for
    each array index (``Arguments/Input/pushLocation``, ``Assign/x``, ``Output/a[0]``).
    Returns every expression with where it is."""
    EvalComponent = moto_module(
        "moto.stepfunctions.parser.asl.component.eval_component"
    ).EvalComponent
    CommonStateField = moto_module(
        "moto.stepfunctions.parser.asl.component.state.state"
    ).CommonStateField
    seen: set[int] = set()
    sites: list[JSONataSite] = []

    def visit(node: Any, path: str, state: str) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        if isinstance(node, CommonStateField):
            path, state = "", str(node.name)
        elif isinstance(node, EvalComponent):
            if any(type(node).__name__.startswith(kind) for kind in _BINDINGS):
                path = f"{path}/{node.identifier}"
            elif not path:
                path = _field_of(node) or ""
        if type(node).__name__ == "StringJSONata":
            node.local_field_path = path
            sites.append(JSONataSite(state, path, str(node.expression)))
        for value in vars(node).values() if hasattr(node, "__dict__") else ():
            visit_value(value, path, state, node)

    def visit_value(value: Any, path: str, state: str, owner: Any) -> None:
        if isinstance(value, list | tuple):
            indexed = type(owner).__name__.endswith("ValueArray")
            for index, item in enumerate(value):
                visit_value(item, f"{path}[{index}]" if indexed else path, state, owner)
        elif isinstance(value, dict):
            for item in value.values():
                visit_value(item, path, state, owner)
        elif isinstance(value, EvalComponent) or type(value).__module__.startswith(
            "moto.stepfunctions.parser.asl.component"
        ):
            visit(value, path, state)

    visit(program, "", "")
    return sites


def syntax_error(expression: str) -> str | None:
    """Why ``expression`` is not JSONata, or ``None`` when it parses.

    >>> syntax_error("1 +")
    'Unexpected end of expression'
    """
    try:
        _expression(expression)
    except QueryEvaluationError as error:
        return str(error.__cause__ or error)
    return None


def _states_binding(env: Any) -> dict[str, Any]:
    data: dict[str, Any] = dict(env.states._states_data)
    return data


def patch_jsonata() -> None:
    string_expression = moto_module(
        "moto.stepfunctions.parser.asl.component.common.string.string_expression"
    )
    QueryLanguageMode = moto_module(
        "moto.stepfunctions.parser.asl.component.common.query_language"
    ).QueryLanguageMode

    def jsonata_body(self: Any, env: Any) -> None:
        bindings = {"states": _states_binding(env), **variable_bindings(env)}
        try:
            env.stack.append(evaluate(self.expression, bindings))
        except QueryEvaluationError as error:
            _raise_evaluation_failed(env, self, str(error))

    def variable_sample_body(self: Any, env: Any) -> None:
        # A variable read (``$name.path``) in either query language; only JSONata sees $states.
        bindings = variable_bindings(env)
        jsonata = self.query_language_mode == QueryLanguageMode.JSONata
        if jsonata:
            bindings = {"states": _states_binding(env), **bindings}
        try:
            env.stack.append(evaluate(self.expression, bindings))
        except QueryEvaluationError as error:
            if jsonata:
                _raise_evaluation_failed(env, self, str(error))
            # A JSONPath state has no JSONata error: a path with no value is States.Runtime.
            cause = (
                f"The JSONPath '{self.expression}' specified for the field "
                f"'{env.next_field_name}' could not be found in the variables in scope"
            )
            raise states_failure(env, "States.Runtime", "TaskFailed", {"cause": cause}) from error

    string_expression.StringJSONata._eval_body = jsonata_body
    string_expression.StringVariableSample._eval_body = variable_sample_body
