"""CloudWatch metrics on the local endpoint: what the functions emit as EMF is readable through
``get-metric-data``, ``get-metric-statistics`` and ``list-metrics``."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from typing import Any

from local.json_http import request_json
from local.metrics import EmfPublisher, metric_data
from local.runtime import LocalStack

_WINDOW = dt.timedelta(hours=1)


def _document(**fields: Any) -> dict[str, Any]:
    return {
        "_aws": {
            "Timestamp": 1_700_000_000_000,
            "CloudWatchMetrics": [
                {
                    "Namespace": "Shop",
                    "Dimensions": [["service"], ["service", "route"]],
                    "Metrics": [{"Name": "Orders", "Unit": "Count"}, {"Name": "Latency"}],
                }
            ],
        },
        **fields,
    }


def test_each_metric_is_put_once_per_dimension_set() -> None:
    data = list(metric_data(_document(service="api", route="/orders", Orders=[1, 2], Latency=5)))

    assert [(ns, d["MetricName"], d["Values"]) for ns, d in data] == [
        ("Shop", "Orders", [1.0, 2.0]),
        ("Shop", "Orders", [1.0, 2.0]),
        ("Shop", "Latency", [5.0]),
        ("Shop", "Latency", [5.0]),
    ]
    assert data[1][1]["Dimensions"] == [
        {"Name": "service", "Value": "api"},
        {"Name": "route", "Value": "/orders"},
    ]
    assert data[0][1]["Unit"] == "Count"
    assert "Unit" not in data[2][1]
    assert data[0][1]["Timestamp"] == dt.datetime(2023, 11, 14, 22, 13, 20)  # naive UTC


def test_what_is_not_emf_yields_nothing() -> None:
    # A dimension set naming a missing member, a non-numeric value, a document without _aws.
    assert [d["Dimensions"] for _, d in metric_data(_document(service="api", Orders=1))] == [
        [{"Name": "service", "Value": "api"}]
    ]
    assert list(metric_data(_document(service="api", Orders="many", Latency=True))) == []
    assert list(metric_data({"Orders": 1})) == []
    assert list(metric_data({"_aws": {"CloudWatchMetrics": [{"Metrics": []}]}})) == []


def test_a_datum_cloudwatch_refuses_is_dropped_and_the_rest_is_kept() -> None:
    from moto.cloudwatch.models import MetricDatum, cloudwatch_backends

    region = "ap-southeast-4"  # a backend no stack in this process uses
    refused = json.dumps(_document(service="api", Orders=float("nan")))
    kept = json.dumps(_document(service="api", Orders=2))

    EmfPublisher("123456789012", region)("fn", f"{refused}\n{kept}".encode())

    stored = cloudwatch_backends["123456789012"][region].metric_data
    [datum] = stored
    assert isinstance(datum, MetricDatum)
    assert (datum.name, datum.value) == ("Orders", 2.0)


def _sum(cloudwatch: Any, namespace: str, name: str, dimensions: list[dict[str, str]]) -> float:
    now = dt.datetime.now(dt.UTC)
    answer = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "total",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": name,
                        "Dimensions": dimensions,
                    },
                    "Period": 3600,
                    "Stat": "Sum",
                },
            }
        ],
        StartTime=now - _WINDOW,
        EndTime=now + _WINDOW,
    )
    return float(sum(answer["MetricDataResults"][0]["Values"]))


def test_a_stack_functions_powertools_metrics_are_readable(local_stack: LocalStack) -> None:
    cloudwatch = local_stack.client("cloudwatch")
    namespace = local_stack.app.metrics_namespace
    refused = {"Name": "service", "Value": "api"}
    before = _sum(cloudwatch, namespace, "RequestsRefused", [refused])

    status, _ = request_json("POST", f"{local_stack.api_url}/events", ["not", "an", "event"])

    assert 400 <= status < 500
    listed = cloudwatch.list_metrics(Namespace=namespace, MetricName="RequestsRefused")
    assert [refused] in [metric["Dimensions"] for metric in listed["Metrics"]]
    assert _sum(cloudwatch, namespace, "RequestsRefused", [refused]) == before + 1
    now = dt.datetime.now(dt.UTC)
    statistics = cloudwatch.get_metric_statistics(
        Namespace=namespace,
        MetricName="RequestsRefused",
        Dimensions=[refused],
        StartTime=now - _WINDOW,
        EndTime=now + _WINDOW,
        Period=3600,
        Statistics=["Sum"],
    )
    assert sum(point["Sum"] for point in statistics["Datapoints"]) == before + 1


def test_a_zip_functions_emf_output_is_readable(local_stack: LocalStack) -> None:
    iam, lambda_api = local_stack.client("iam"), local_stack.client("lambda")
    role = iam.create_role(
        RoleName=f"emf-{uuid.uuid4().hex[:8]}",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )
    namespace = f"Local/{uuid.uuid4().hex[:8]}"
    source = (
        "import json, time\n"
        "def handler(event, context):\n"
        "    print(json.dumps({'_aws': {'Timestamp': int(time.time() * 1000),\n"
        f"        'CloudWatchMetrics': [{{'Namespace': '{namespace}',\n"
        "        'Dimensions': [['service']],\n"
        "        'Metrics': [{'Name': 'CircuitBreakerOpen', 'Unit': 'Count'}]}]},\n"
        "        'service': 'deliver', 'CircuitBreakerOpen': 1}))\n"
        "    return 'opened'\n"
    )
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", source)
    name = f"emf-{uuid.uuid4().hex[:8]}"
    lambda_api.create_function(
        FunctionName=name,
        Runtime="python3.13",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )
    try:
        for _ in range(2):
            answer = lambda_api.invoke(FunctionName=name, Payload=b"{}")
            assert "FunctionError" not in answer
    finally:
        lambda_api.delete_function(FunctionName=name)

    dimensions = [{"Name": "service", "Value": "deliver"}]
    assert _sum(local_stack.client("cloudwatch"), namespace, "CircuitBreakerOpen", dimensions) == 2
