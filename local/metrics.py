"""CloudWatch metrics from the functions' embedded metric format (EMF) output, as on AWS.

On AWS, Powertools Metrics prints one EMF JSON document per flush and CloudWatch Logs turns it
into metrics. Locally each worker hands the documents an invocation printed back to the pool
(:mod:`local.lambdas.worker`), and :class:`EmfPublisher` puts them into moto's CloudWatch
backend, so ``get-metric-data``, ``get-metric-statistics`` and ``list-metrics`` on the local
endpoint answer with what the functions emitted (``CircuitBreakerOpen`` and the other counters).

>>> doc = {"_aws": {"Timestamp": 1700000000000, "CloudWatchMetrics": [{"Namespace": "stepflow",
...        "Dimensions": [["service"]], "Metrics": [{"Name": "Delivered", "Unit": "Count"}]}]},
...        "service": "deliver", "Delivered": [1.0, 2.0]}
>>> [(ns, d["MetricName"], d["Values"], d["Dimensions"]) for ns, d in metric_data(doc)]
[('stepflow', 'Delivered', [1.0, 2.0], [{'Name': 'service', 'Value': 'deliver'}])]
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

__all__ = ["EmfPublisher", "metric_data"]

_log = logging.getLogger(__name__)


def metric_data(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(namespace, MetricDatum)`` for each metric and dimension set an EMF document declares.

    Documents or directives that are not valid EMF yield nothing, as CloudWatch keeps such a
    line as a plain log event.
    """
    metadata = document.get("_aws")
    if not isinstance(metadata, dict):
        return
    timestamp = _timestamp(metadata.get("Timestamp"))
    for directive in metadata.get("CloudWatchMetrics") or ():
        namespace = directive.get("Namespace")
        if not isinstance(namespace, str):
            continue
        dimension_sets = directive.get("Dimensions") or [[]]
        for metric in directive.get("Metrics") or ():
            name = metric.get("Name")
            values = _values(document.get(name))
            if not values:
                continue
            for dimension_set in dimension_sets:
                if any(key not in document for key in dimension_set):
                    continue
                datum: dict[str, Any] = {
                    "MetricName": name,
                    "Values": values,
                    "Timestamp": timestamp,
                    "Dimensions": [
                        {"Name": key, "Value": str(document[key])} for key in dimension_set
                    ],
                }
                if metric.get("Unit"):
                    datum["Unit"] = metric["Unit"]
                yield namespace, datum


def _values(raw: object) -> list[float]:
    items = raw if isinstance(raw, list) else [raw]
    return [
        float(item)
        for item in items
        if isinstance(item, int | float) and not isinstance(item, bool)
    ]


def _timestamp(raw: object) -> dt.datetime:
    # moto's CloudWatch compares naive UTC datetimes.
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return dt.datetime.fromtimestamp(raw / 1000, dt.UTC).replace(tzinfo=None)
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class EmfPublisher:
    """A :data:`~local.lambdas.pool.MetricsSink` putting EMF documents into moto's CloudWatch.

    Example::

        pool = LambdaPool(configs, ..., metrics_sink=EmfPublisher("123456789012", "us-east-1"))
    """

    def __init__(self, account_id: str, region: str) -> None:
        self._account_id = account_id
        self._region = region

    def __call__(self, function_name: str, documents: bytes) -> None:
        from moto.cloudwatch.models import cloudwatch_backends

        backend = cloudwatch_backends[self._account_id][self._region]
        for line in documents.splitlines():
            try:
                document = json.loads(line)
            except ValueError:
                _log.debug("%s printed a line that is not EMF JSON", function_name)
                continue
            if not isinstance(document, dict):
                continue
            for namespace, datum in metric_data(document):
                # CloudWatch drops a bad datum; the invocation that printed it stands.
                try:
                    backend.put_metric_data(namespace, [datum])
                except Exception as refused:
                    _log.warning(
                        "%s emitted a metric CloudWatch refuses (%s): %s",
                        function_name,
                        refused,
                        datum["MetricName"],
                    )
