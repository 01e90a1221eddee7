"""Checks of a description before anything is created, and the order functions and workflows
are created in.

Each check fails the preview with every problem named, instead of failing half way through
``pulumi up`` with an AWS validation error (a name) or a ``KeyError`` deep in a component (a
reference to something the description does not hold).
"""

from __future__ import annotations

import re
from typing import Final, Literal

from infra.api import route_key
from infra.queue import DLQ_SUFFIX
from stack.spec import App

# What each service accepts as a name.
_NAME_RULES: Final = {
    "function": (re.compile(r"[A-Za-z0-9_-]{1,64}"), "1-64 letters, digits, '-' or '_'"),
    "table": (re.compile(r"[A-Za-z0-9_.-]{3,255}"), "3-255 letters, digits, '.', '-' or '_'"),
    "queue": (re.compile(r"[A-Za-z0-9_-]{1,80}"), "1-80 letters, digits, '-' or '_'"),
    "workflow": (re.compile(r"[A-Za-z0-9_-]{1,80}"), "1-80 letters, digits, '-' or '_'"),
    # S3 names are global and DNS labels: lowercase, no '_', and no '..'.
    "bucket": (
        re.compile(r"(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"),
        "3-63 lowercase letters, digits, '.' or '-'",
    ),
    "secret": (re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}"), "1-512 letters, digits or '/_+=.@-'"),
    "pipe": (re.compile(r"[A-Za-z0-9_.-]{1,64}"), "1-64 letters, digits, '.', '-' or '_'"),
    "api": (re.compile(r".{1,128}"), "1-128 characters"),
}

Kind = Literal["function", "workflow"]
Node = tuple[Kind, str]


class DependencyCycleError(ValueError):
    """Functions and workflows that need each other's ARNs: none of them can be created first."""


def check_names(app: App) -> None:
    """Raise ``ValueError`` naming every physical name that its AWS service would refuse."""
    names = [("function", spec.name) for spec in app.functions]
    names += [("table", spec.name) for spec in app.tables]
    names += [("workflow", spec.name) for spec in app.workflows]
    names += [("bucket", spec.name) for spec in app.buckets]
    names += [("secret", spec.name) for spec in app.secrets]
    names += [("pipe", spec.name) for spec in app.pipes]
    if app.api is not None:
        names.append(("api", app.api.name))
    for queue in app.queues:
        names.append(("queue", queue.name))
        if queue.max_receive_count > 0:
            names.append(("queue", queue.name + DLQ_SUFFIX))
    problems = []
    for kind, logical in names:
        pattern, rule = _NAME_RULES[kind]
        physical = app.physical_name(logical)
        if not pattern.fullmatch(physical):
            problems.append(f"{kind} {logical!r}: {physical!r} is not {rule}")
    if problems:
        raise ValueError("names AWS would refuse: " + "; ".join(problems))


def check_references(app: App) -> None:
    """Raise ``ValueError`` naming every reference to a resource the description lacks.

    Covers grants, pipes, bucket notifications and routes. A workflow's references to functions
    are the ``StateMachine``'s to check (it raises ``DefinitionError``), since only rendering
    the definition proves them.
    """
    known = {
        "table": {spec.name for spec in app.tables},
        "bucket": {spec.name for spec in app.buckets},
        "queue": {spec.name for spec in app.queues},
        "secret": {spec.name for spec in app.secrets},
        "workflow": {spec.name for spec in app.workflows},
        "function": {spec.name for spec in app.functions},
    }
    wanted: list[tuple[str, str, str]] = []  # (who, kind, name)
    for function in app.functions:
        who = f"function {function.name!r}"
        wanted += [(who, "table", grant.table) for grant in function.tables]
        wanted += [(who, "bucket", grant.bucket) for grant in function.buckets]
        wanted += [(who, "queue", grant.queue) for grant in function.queues]
        wanted += [(who, "secret", grant.secret) for grant in function.secrets]
        wanted += [(who, "workflow", grant.workflow) for grant in function.workflows]
    for pipe in app.pipes:
        wanted += [
            (f"pipe {pipe.name!r}", "queue", pipe.source_queue),
            (f"pipe {pipe.name!r}", "workflow", pipe.target_workflow),
        ]
    for notification in app.notifications:
        who = f"notification {notification.bucket!r} -> {notification.queue!r}"
        wanted += [(who, "bucket", notification.bucket), (who, "queue", notification.queue)]
    if app.api is not None:
        wanted += [
            (f"route {route_key(route)!r}", "function", route.function) for route in app.api.routes
        ]
    problems = [
        f"{who} names {kind} {name!r}" for who, kind, name in wanted if name not in known[kind]
    ]
    if problems:
        raise ValueError("references to what the description does not hold: " + "; ".join(problems))


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
        # Unknown functions are left for the StateMachine to refuse, with its own message.
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
