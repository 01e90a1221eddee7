"""Powertools settings every Lambda must agree on (the scaffold, :mod:`functions._shared.scaffold`,
applies them)."""

from __future__ import annotations

import os
from typing import Final

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
