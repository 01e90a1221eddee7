"""``python -m local rejected``: the CLI over the quarantine library, against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions._shared.quarantine import QuarantineBucket, QuarantineSource, RejectedInput
from local import cli
from stack.app import build_app
from tests.functional.conftest import REGION


@pytest.fixture
def stack(aws_environment: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Any]]:
    app = build_app()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        for logical in ("quarantine", "landing"):
            s3.create_bucket(Bucket=app.bucket_name(logical))
        sqs.create_queue(QueueName=app.physical_name("ingest"))
        clients = {"s3": s3, "sqs": sqs}
        monkeypatch.setattr(cli, "_client", lambda endpoint, service="": clients[service])
        yield s3, sqs


def test_list_show_and_resubmit_once(
    stack: tuple[Any, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    s3, sqs = stack
    app = build_app()
    item = RejectedInput(QuarantineSource.API, "trk-1-3", b'{"year": 1e400}', "not finite", "trk-1")
    key = QuarantineBucket(app.bucket_name("quarantine"), s3).keep(item, datetime.now(UTC))

    assert cli.main(["rejected", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["key"], listed["reason"], listed["resubmitted"]) == (key, "not finite", None)

    assert cli.main(["rejected", "show", key, "--body-only"]) == 0
    assert capsys.readouterr().out == '{"year": 1e400}'

    fixed = tmp_path / "fixed.json"
    fixed.write_text('{"year": 2025}')
    assert cli.main(["rejected", "resubmit", key, "--body-file", str(fixed)]) == 0
    assert f"resubmitted {key}" in capsys.readouterr().out
    url = sqs.get_queue_url(QueueName=app.physical_name("ingest"))["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    assert message["Body"] == '{"year": 2025}'

    assert cli.main(["rejected", "resubmit", key]) == 2
    assert "already resubmitted" in capsys.readouterr().err
    assert cli.main(["rejected", "list"]) == 0
    assert "resubmitted  " + key in capsys.readouterr().out
