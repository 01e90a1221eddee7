"""Powertools settings every Lambda must agree on (the scaffold, :mod:`functions._shared.scaffold`,
applies them)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Final

from aws_lambda_powertools.shared import constants
from aws_lambda_powertools.shared.functions import strtobool

from functions._shared import names

# JMESPath into the envelope: every log line of an execution carries its tracking id as the
# correlation id, so one query finds a batch's whole path through the workflow.
CORRELATION_ID_PATH: Final = "trackingId"


def metrics_namespace() -> str:
    """The CloudWatch namespace: ``POWERTOOLS_METRICS_NAMESPACE`` or the project's default.

    A default matters because Powertools refuses to flush metrics without a namespace, and a
    missing variable should not fail an invocation that did its work.
    """
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or names.METRICS_NAMESPACE


def tracing_enabled(environ: Mapping[str, str] = os.environ) -> bool:
    """Powertools' rule, checked before a Tracer exists (making one imports the X-Ray SDK):
    in Lambda, unless ``POWERTOOLS_TRACE_DISABLED`` or SAM or Chalice local."""
    if strtobool(environ.get(constants.TRACER_DISABLED_ENV, "false")):
        return False
    if environ.get(constants.SAM_LOCAL_ENV) or environ.get(constants.CHALICE_LOCAL_ENV):
        return False
    return bool(environ.get(constants.LAMBDA_TASK_ROOT_ENV))
