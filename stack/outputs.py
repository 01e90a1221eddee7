"""The names of the stack outputs, shared by the Pulumi program and the local runtime.

Both backends print the same keys (``pulumi stack output <key>`` on AWS, the local CLI on one
machine), so scripts and tests written against one work against the other. This module is plain
Python on purpose: the local runtime imports it and must never import ``pulumi``.

Map outputs are keyed by the *logical* name from the description (``"ingest"``, ``"dedupe"``);
their values are physical names, ARNs or URLs of the backend that printed them.
"""

from __future__ import annotations

from typing import Final

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
    keys.update(state_machine_arn_key(workflow.name) for workflow in app.workflows)
    return frozenset(keys)


def _camel(name: str) -> str:
    head, *rest = name.replace("-", "_").split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)
