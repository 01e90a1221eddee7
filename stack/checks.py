"""Checks of a description before either backend creates anything, and the order functions and
workflows are created in.

Both backends run :func:`check_app` first (``infra.stack.deploy``, ``local.runtime.LocalStack``),
so a description that one of them would refuse half way (AWS with a validation error, the local
runtime with a ``KeyError`` deep in provisioning) is refused by both, up front, with every
problem named.

>>> from dataclasses import replace
>>> from stack.app import build_app
>>> app = build_app()
>>> check_app(app)
>>> broken = replace(app, pipes=(replace(app.pipes[0], target_workflow="ghost"),))
>>> check_app(broken)
Traceback (most recent call last):
...
stack.checks.DescriptionError: references to what the description does not hold: pipe 'ingest' names workflow 'ghost'
"""  # noqa: E501 - a doctest's expected output is one line

from __future__ import annotations

import re
from collections import Counter
from typing import Final, Literal

from stack.spec import App, Authorization

# What each service accepts as a name.
_NAME_RULES: Final = {
    "function": (re.compile(r"[A-Za-z0-9_-]{1,64}"), "1-64 letters, digits, '-' or '_'"),
    "table": (re.compile(r"[A-Za-z0-9_.-]{3,255}"), "3-255 letters, digits, '.', '-' or '_'"),
    "queue": (re.compile(r"[A-Za-z0-9_-]{1,80}"), "1-80 letters, digits, '-' or '_'"),
    "workflow": (re.compile(r"[A-Za-z0-9_-]{1,80}"), "1-80 letters, digits, '-' or '_'"),
    # S3 names are global and DNS labels: lowercase, no '_', and no '..'.
    "bucket": (
        re.compile(r"(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
        "3-63 lowercase letters, digits, '.' or '-' (<prefix>-<bucket>-<account id>-<region>: "
        "a shorter prefix fits)",
    ),
    "secret": (re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}"), "1-512 letters, digits or '/_+=.@-'"),
    "pipe": (re.compile(r"[A-Za-z0-9_.-]{1,64}"), "1-64 letters, digits, '.', '-' or '_'"),
    "api": (re.compile(r".{1,128}"), "1-128 characters"),
    "rule": (re.compile(r"[A-Za-z0-9_.-]{1,64}"), "1-64 letters, digits, '.', '-' or '_'"),
}

Kind = Literal["function", "workflow"]
Node = tuple[Kind, str]


class DescriptionError(ValueError):
    """A description neither backend can create; the message names every problem."""


class DependencyCycleError(DescriptionError):
    """Functions and workflows that need each other's ARNs: none of them can be created first."""


def check_app(app: App) -> None:
    """Every check below, in turn; raises the first :class:`DescriptionError` found."""
    check_unique_names(app)
    check_names(app)
    check_references(app)
    creation_order(app)


def _named(app: App) -> list[tuple[str, str]]:
    """Every (kind, logical name) the description creates, dead-letter queues included."""
    names = [("function", spec.name) for spec in app.functions]
    names += [("table", spec.name) for spec in app.tables]
    names += [("workflow", spec.name) for spec in app.workflows]
    names += [("bucket", spec.name) for spec in app.buckets]
    names += [("secret", spec.name) for spec in app.secrets]
    names += [("pipe", spec.name) for spec in app.pipes]
    names += [("rule", rule.name) for rule in app.execution_status_rules]
    if app.api is not None:
        names.append(("api", app.api.name))
    for queue in app.queues:
        names.append(("queue", queue.name))
        if queue.dead_letter_queue is not None:
            names.append(("queue", queue.dead_letter_queue))
    return names


def check_unique_names(app: App) -> None:
    """Raise naming every name two resources of one kind share, and every route key used twice.

    A queue named like another queue's dead-letter queue (``ingest-dlq``) counts: both would be
    one SQS queue.
    """
    problems = [
        f"{count} {kind}s named {name!r}"
        for (kind, name), count in Counter(_named(app)).items()
        if count > 1
    ]
    if app.api is not None:
        keys = Counter(route.key for route in app.api.routes)
        problems += [f"{count} routes {key!r}" for key, count in keys.items() if count > 1]
    if problems:
        raise DescriptionError("names used twice: " + "; ".join(problems))


def check_names(app: App) -> None:
    """Raise naming every physical name that its AWS service would refuse."""
    problems = []
    for kind, logical in _named(app):
        pattern, rule = _NAME_RULES[kind]
        physical = app.bucket_name(logical) if kind == "bucket" else app.physical_name(logical)
        if not pattern.fullmatch(physical):
            problems.append(f"{kind} {logical!r}: {physical!r} is not {rule}")
    if problems:
        raise DescriptionError("names AWS would refuse: " + "; ".join(problems))


def check_references(app: App) -> None:
    """Raise naming every reference to a resource the description lacks.

    Covers grants, pipes (their queue, workflow and enrichment function), bucket notifications,
    routes (their function, and the API's JWT authorizer for a JWT route), the functions a
    workflow's definition references, the circuit breaker's function and table, and each
    execution status rule's workflows, target function and dead-letter queue.
    """
    known = {
        "table": {spec.name for spec in app.tables},
        "bucket": {spec.name for spec in app.buckets},
        "queue": {spec.name for spec in app.queues},
        "secret": {spec.name for spec in app.secrets},
        "workflow": {spec.name for spec in app.workflows},
        "function": {spec.name for spec in app.functions},
    }
    problems: list[str] = []
    wanted: list[tuple[str, str, str]] = []  # (who, kind, name)
    for function in app.functions:
        who = f"function {function.name!r}"
        wanted += [(who, "table", grant.table) for grant in function.tables]
        wanted += [(who, "bucket", grant.bucket) for grant in function.buckets]
        wanted += [(who, "queue", grant.queue) for grant in function.queues]
        wanted += [(who, "secret", grant.secret) for grant in function.secrets]
        wanted += [(who, "workflow", grant.workflow) for grant in function.workflows]
    for workflow in app.workflows:
        who = f"workflow {workflow.name!r}"
        referenced = sorted(workflow.definition.referenced_functions())
        wanted += [(who, "function", name) for name in referenced]
    for pipe in app.pipes:
        wanted += [
            (f"pipe {pipe.name!r}", "queue", pipe.source_queue),
            (f"pipe {pipe.name!r}", "workflow", pipe.target_workflow),
        ]
        if pipe.enrichment_function is not None:
            wanted.append((f"pipe {pipe.name!r}", "function", pipe.enrichment_function))
    for notification in app.notifications:
        who = f"notification {notification.bucket!r} -> {notification.queue!r}"
        wanted += [(who, "bucket", notification.bucket), (who, "queue", notification.queue)]
    if app.api is not None:
        trusted = app.api.jwt_authorizer.user_pool if app.api.jwt_authorizer else None
        if trusted is not None and (app.user_pool is None or app.user_pool.name != trusted):
            problems.append(
                f"api {app.api.name!r} trusts user pool {trusted!r}, which the stack does not have"
            )
        for route in app.api.routes:
            wanted.append((f"route {route.key!r}", "function", route.function))
            if route.authorization is Authorization.JWT and app.api.jwt_authorizer is None:
                problems.append(
                    f"route {route.key!r} wants a JWT, but api {app.api.name!r} has no "
                    "jwt_authorizer"
                )
    if app.circuit_breaker is not None:
        breaker = app.circuit_breaker
        wanted += [
            ("the circuit breaker", "function", breaker.function),
            ("the circuit breaker", "table", breaker.table),
        ]
    for rule in app.execution_status_rules:
        who = f"execution status rule {rule.name!r}"
        wanted += [(who, "workflow", name) for name in rule.workflows]
        wanted.append((who, "function", rule.target_function))
        wanted.append((who, "queue", rule.dead_letter_queue))
    problems[:0] = [
        f"{who} names {kind} {name!r}" for who, kind, name in wanted if name not in known[kind]
    ]
    if problems:
        raise DescriptionError(
            "references to what the description does not hold: " + "; ".join(problems)
        )


def creation_order(app: App) -> list[Node]:
    """Functions and workflows, each after everything whose ARN it needs.

    A workflow needs the ARNs of the functions its definition references; a function needs the
    ARNs of the workflows it may start (``WorkflowGrant``). The order follows the description
    (functions, then workflows) wherever dependencies allow, so it is stable from run to run.

    Example: ``api`` starts ``ingest``, which references ``validate``... but not ``api``::

        [("function", "validate"), ..., ("workflow", "ingest"), ("function", "api"), ...]

    Raises ``DependencyCycleError`` naming the cycle, e.g. a workflow that references the
    function that starts it.
    """
    functions = {spec.name: spec for spec in app.functions}
    workflows = {spec.name: spec for spec in app.workflows}

    def needs(node: Node) -> list[Node]:
        kind, name = node
        if kind == "function":
            grants = functions[name].workflows
            return [("workflow", g.workflow) for g in grants if g.workflow in workflows]
        referenced = workflows[name].definition.referenced_functions()
        # Unknown functions are check_references' to name.
        return [("function", f) for f in sorted(referenced) if f in functions]

    order: list[Node] = []
    done: set[Node] = set()
    path: list[Node] = []

    def visit(node: Node) -> None:
        if node in done:
            return
        if node in path:
            cycle = [*path[path.index(node) :], node]
            raise DependencyCycleError(
                "functions and workflows need each other's ARNs: "
                + " -> ".join(f"{kind} {name!r}" for kind, name in cycle)
            )
        path.append(node)
        for dependency in needs(node):
            visit(dependency)
        path.pop()
        done.add(node)
        order.append(node)

    for name in functions:
        visit(("function", name))
    for name in workflows:
        visit(("workflow", name))
    return order
