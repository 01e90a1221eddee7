"""Pipes batches of any bodies: every valid event is kept, every other item gets a reason naming
its message, and nothing is lost (received = valid + rejected); the same for S3 notifications."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from functions.validate.quarantined import rejected_messages
from functions.validate.sources import PipeBatch, read_pipe_batch, screen_records
from tests.property.conftest import count_example
from tests.property.strategies import hostile_events, is_plain_json, json_values, valid_events


def _record(index: int, body: str) -> dict[str, Any]:
    return {"messageId": f"m-{index}", "receiptHandle": "AQEB==", "body": body}


hostile_bodies = st.one_of(
    st.text(),
    st.binary().map(lambda data: data.decode("latin-1")),
    json_values.map(json.dumps),
    hostile_events().map(json.dumps),
    st.lists(hostile_events(), max_size=3).map(json.dumps),
    st.builds(
        lambda tracking_id, events: json.dumps({"trackingId": tracking_id, "events": events}),
        json_values,
        st.one_of(st.lists(hostile_events(), max_size=3), json_values),
    ),
)


def _assert_every_item_accounted_for(payload: dict[str, Any]) -> None:
    counts = payload["counts"]
    assert counts["received"] == counts["valid"] + counts["rejected"]
    assert counts["rejected"] == len(payload["rejected"])
    for rejection in payload["rejected"]:
        assert rejection["messageId"].startswith("m-")
        assert rejection["errors"]
        assert all(error["field"] and error["reason"] for error in rejection["errors"])
    assert is_plain_json(payload)


@given(
    st.lists(valid_events, max_size=4, unique_by=lambda event: event["eventHeader"]["uuid"]),
    st.lists(hostile_bodies, max_size=4),
    st.randoms(use_true_random=False),
)
def test_a_bad_message_never_costs_a_valid_one(
    valid: list[dict[str, Any]], hostile: list[str], shuffler: Any
) -> None:
    count_example("validate sources: SQS record batches")
    bodies = [json.dumps(event) for event in valid] + hostile
    if not bodies:
        bodies = ["not json"]
    shuffler.shuffle(bodies)
    batch = PipeBatch.model_validate([_record(index, body) for index, body in enumerate(bodies)])

    envelope, _ = read_pipe_batch(batch)
    payload = envelope.to_payload()

    if payload["source"] == "queue":
        kept = {event["eventHeader"]["uuid"] for event in payload["events"]}
        assert {event["eventHeader"]["uuid"] for event in valid} <= kept
    else:
        # A hostile body may look like an S3 notification; then the batch is one of objects and
        # each event message is rejected, with its reason, rather than dropped.
        rejected_ids = {rejection["messageId"] for rejection in payload["rejected"]}
        assert all(f"m-{bodies.index(json.dumps(event))}" in rejected_ids for event in valid)
    _assert_every_item_accounted_for(payload)


def _s3_record(key: str, etag: str, size: int) -> dict[str, Any]:
    return {
        "eventSource": "aws:s3",
        "eventName": "ObjectCreated:Put",
        "s3": {
            "bucket": {"name": "landing"},
            "object": {"key": key, "size": size, "eTag": etag},
        },
    }


good_s3_records = st.builds(
    _s3_record,
    st.from_regex(r"[a-z0-9/._-]{1,40}", fullmatch=True).filter(lambda key: key.strip(".")),
    st.from_regex(r"[0-9a-f]{32}", fullmatch=True),
    st.integers(min_value=0, max_value=10**12),
)


@st.composite
def hostile_s3_records(draw: st.DrawFn) -> Any:
    record = draw(good_s3_records)
    path = draw(
        st.sampled_from(
            [
                ("eventSource",),
                ("eventName",),
                ("s3",),
                ("s3", "bucket", "name"),
                ("s3", "object"),
                ("s3", "object", "key"),
                ("s3", "object", "size"),
                ("s3", "object", "eTag"),
            ]
        )
    )
    *parents, leaf = path
    target = record
    for part in parents:
        target = target[part]
    target[leaf] = draw(
        st.one_of(json_values, st.sampled_from(["%80%ff", "a" * 1025, "%61" * 1025, '""']))
    )
    return record


@given(
    st.lists(
        st.one_of(
            good_s3_records.map(lambda r: ("good", r)),
            hostile_s3_records().map(lambda r: ("hostile", r)),
            json_values.map(lambda v: ("hostile", v)),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_s3_notification_records_of_any_shape_are_objects_or_rejected(
    records: list[tuple[str, Any]],
) -> None:
    count_example("validate sources: S3 notification records")
    body = json.dumps({"Records": [record for _, record in records]})  # may hold NaN
    batch = PipeBatch.model_validate([_record(0, body)])

    envelope, _ = read_pipe_batch(batch)
    payload = envelope.to_payload()

    _assert_every_item_accounted_for(payload)
    try:
        json.dumps([record for _, record in records], allow_nan=False)
    except ValueError:
        # Python wrote a body that is not JSON: the message is refused whole, with its reason.
        [rejection] = payload["rejected"]
        assert "is not a JSON number" in rejection["errors"][0]["reason"]
        return
    good = sum(1 for kind, _ in records if kind == "good")
    assert payload["source"] == "s3"
    assert payload["counts"]["received"] == len(records)
    assert payload["counts"]["valid"] >= good


malformed_records = st.one_of(
    st.fixed_dictionaries({"body": hostile_bodies}),
    st.fixed_dictionaries({"messageId": st.text(max_size=8)}),
    st.fixed_dictionaries({"messageId": json_values, "body": st.one_of(json_values, st.text())}),
    st.dictionaries(st.text(max_size=8), json_values, max_size=3),
)


@given(
    st.lists(valid_events, max_size=3, unique_by=lambda event: event["eventHeader"]["uuid"]),
    st.lists(malformed_records, max_size=3),
    st.lists(hostile_bodies, max_size=2),
    st.randoms(use_true_random=False),
)
def test_a_malformed_record_never_costs_its_batch_and_every_rejection_is_kept_verbatim(
    valid: list[dict[str, Any]], malformed: list[Any], hostile: list[str], shuffler: Any
) -> None:
    count_example("validate sources: malformed SQS records and their quarantine")
    records: list[Any] = [_record(index, json.dumps(event)) for index, event in enumerate(valid)]
    records += [_record(len(records) + index, body) for index, body in enumerate(hostile)]
    records += malformed
    if not records:
        records = [{"body": "no id"}]
    shuffler.shuffle(records)

    screened, refused = screen_records(records)
    batch = PipeBatch.model_validate(screened)
    envelope, _ = read_pipe_batch(batch, refused)
    payload = envelope.to_payload()

    rejected_messages_ids = {rejection["messageId"] for rejection in payload["rejected"]}
    assert set(refused) <= rejected_messages_ids  # each malformed record rejected alone
    if payload["source"] == "queue":
        kept = {event["eventHeader"]["uuid"] for event in payload["events"]}
        assert {event["eventHeader"]["uuid"] for event in valid} <= kept
    bodies = {record.message_id: record.body for record in batch.root}
    quarantined = rejected_messages(
        envelope, [record.model_dump(by_alias=True) for record in batch.root]
    )
    assert set(quarantined) == rejected_messages_ids
    for message_id, item in quarantined.items():
        assert item.body == bodies[message_id].encode("utf-8", "surrogatepass")
        assert item.reason
