"""The names of the stack outputs, shared by the Pulumi program and the local runtime.

Both backends print the same keys (``pulumi stack output <key>`` on AWS, the local CLI on one
machine), so scripts and tests written against one work against the other. This module is plain
Python on purpose: the local runtime imports it and must never import ``pulumi``.

Map outputs are keyed by the *logical* name from the description (``"ingest"``, ``"dedupe"``);
their values are physical names, ARNs or URLs of the backend that printed them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from stack.spec import App

REGION: Final = "region"
PREFIX: Final = "prefix"
STATE_MACHINE_ARNS: Final = "stateMachineArns"
FUNCTION_NAMES: Final = "functionNames"
TABLE_NAMES: Final = "tableNames"
QUEUE_URLS: Final = "queueUrls"
# Keyed by the logical name of the queue whose dead letters they hold (only queues that redrive).
DEAD_LETTER_QUEUE_URLS: Final = "deadLetterQueueUrls"
BUCKET_NAMES: Final = "bucketNames"
SECRET_NAMES: Final = "secretNames"
# The base URL of the API (its default stage); present only when the description has an API.
API_URL: Final = "apiUrl"
# Where people sign in (InitiateAuth USER_PASSWORD_AUTH); only with a user pool.
USER_POOL_ID: Final = "userPoolId"
USER_POOL_CLIENT_ID: Final = "userPoolClientId"
# The IAM policies system callers attach, by logical name (producer, operator).
ACCESS_POLICY_ARNS: Final = "accessPolicyArns"

_STATE_MACHINE_ARN_SUFFIX: Final = "StateMachineArn"


def state_machine_arn_key(workflow: str) -> str:
    """The per-workflow output that carries its state machine ARN.

    One plain key per workflow lets a shell read an ARN without parsing the map::

        >>> state_machine_arn_key("enrich")
        'enrichStateMachineArn'
        >>> state_machine_arn_key("aggregate-s3")
        'aggregateS3StateMachineArn'
    """
    return _camel(workflow) + _STATE_MACHINE_ARN_SUFFIX


def output_keys(app: App) -> frozenset[str]:
    """Every output key a backend prints for ``app``; both backends must print exactly these."""
    keys = {
        REGION,
        PREFIX,
        STATE_MACHINE_ARNS,
        FUNCTION_NAMES,
        TABLE_NAMES,
        QUEUE_URLS,
        DEAD_LETTER_QUEUE_URLS,
        BUCKET_NAMES,
        SECRET_NAMES,
    }
    if app.api is not None:
        keys.add(API_URL)
    if app.user_pool is not None:
        keys |= {USER_POOL_ID, USER_POOL_CLIENT_ID}
    if app.access_policies:
        keys.add(ACCESS_POLICY_ARNS)
    keys.update(state_machine_arn_key(workflow.name) for workflow in app.workflows)
    return frozenset(keys)


def stack_outputs(
    app: App,
    *,
    state_machine_arns: Mapping[str, Any],
    function_names: Mapping[str, Any],
    table_names: Mapping[str, Any],
    queue_urls: Mapping[str, Any],
    dead_letter_queue_urls: Mapping[str, Any],
    bucket_names: Mapping[str, Any],
    secret_names: Mapping[str, Any],
    api_url: Any | None,
    user_pool_id: Any | None = None,
    user_pool_client_id: Any | None = None,
    access_policy_arns: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The outputs of ``app``, given what one backend resolved (plain strings or Pulumi Outputs).

    Each map is keyed by logical name and must hold exactly the description's resources
    (``dead_letter_queue_urls``: the queues that redrive), and ``api_url`` is given exactly when
    the description has an API: a backend that forgot or invented one fails here, by name.

    >>> from stack.app import build_app
    >>> app = build_app()
    >>> def names(specs):
    ...     return {spec.name: app.physical_name(spec.name) for spec in specs}
    >>> found = stack_outputs(
    ...     app,
    ...     state_machine_arns={w.name: f"arn:{w.name}" for w in app.workflows},
    ...     function_names=names(app.functions),
    ...     table_names=names(app.tables),
    ...     queue_urls={q.name: f"https://{q.name}" for q in app.queues},
    ...     dead_letter_queue_urls={
    ...         q.name: f"https://{q.dead_letter_queue}" for q in app.queues if q.dead_letter_queue
    ...     },
    ...     bucket_names=names(app.buckets),
    ...     secret_names=names(app.secrets),
    ...     api_url="http://127.0.0.1:4567",
    ...     user_pool_id="us-east-1_AbC",
    ...     user_pool_client_id="client",
    ...     access_policy_arns={p.name: f"arn:{p.name}" for p in app.access_policies},
    ... )
    >>> found["ingestStateMachineArn"], found["queueUrls"]["ingest"]
    ('arn:ingest', 'https://ingest')
    """
    maps = {
        STATE_MACHINE_ARNS: (state_machine_arns, [spec.name for spec in app.workflows]),
        FUNCTION_NAMES: (function_names, [spec.name for spec in app.functions]),
        TABLE_NAMES: (table_names, [spec.name for spec in app.tables]),
        QUEUE_URLS: (queue_urls, [spec.name for spec in app.queues]),
        DEAD_LETTER_QUEUE_URLS: (
            dead_letter_queue_urls,
            [spec.name for spec in app.queues if spec.dead_letter_queue is not None],
        ),
        BUCKET_NAMES: (bucket_names, [spec.name for spec in app.buckets]),
        SECRET_NAMES: (secret_names, [spec.name for spec in app.secrets]),
    }
    if app.access_policies or access_policy_arns:
        maps[ACCESS_POLICY_ARNS] = (
            access_policy_arns or {},
            [spec.name for spec in app.access_policies],
        )
    problems = [
        f"{key} holds {sorted(values)}, the description {sorted(described)}"
        for key, (values, described) in maps.items()
        if set(values) != set(described)
    ]
    if (api_url is None) != (app.api is None):
        problems.append(f"{API_URL} is {'missing' if api_url is None else 'not described'}")
    for key, value in ((USER_POOL_ID, user_pool_id), (USER_POOL_CLIENT_ID, user_pool_client_id)):
        if (value is None) != (app.user_pool is None):
            problems.append(f"{key} is {'missing' if value is None else 'not described'}")
    if problems:
        raise ValueError("outputs that differ from the description: " + "; ".join(problems))

    # In description order, whatever order the backend created the resources in.
    found: dict[str, Any] = {REGION: app.config.region, PREFIX: app.config.prefix}
    found |= {
        key: {name: values[name] for name in described} for key, (values, described) in maps.items()
    }
    if api_url is not None:
        found[API_URL] = api_url
    if user_pool_id is not None:
        found[USER_POOL_ID] = user_pool_id
        found[USER_POOL_CLIENT_ID] = user_pool_client_id
    for workflow in app.workflows:
        found[state_machine_arn_key(workflow.name)] = state_machine_arns[workflow.name]
    return found


def _camel(name: str) -> str:
    head, *rest = name.replace("-", "_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
