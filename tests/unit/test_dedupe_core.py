"""dedupe's decision: fresh unless another tracking id holds a live claim on the event id."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from functions._shared.errors import InvalidEnvelopeError
from functions._shared.models import ValidatedEnvelope
from functions._shared.status import Status
from functions.dedupe.core import (
    Claim,
    HolderState,
    claim_is_available,
    dedupe_envelope,
    new_claim,
)
from tests.events import load_event
from tests.unit.fakes import InMemoryClaimStore

NOW = datetime(2024, 3, 2, 10, 0, 0, tzinfo=UTC)
NOW_EPOCH = int(NOW.timestamp())
TTL_SECONDS = 3600


def validated(tracking_id: str = "trk-1") -> ValidatedEnvelope:
    payload: dict[str, Any] = copy.deepcopy(load_event("validated_envelope.json"))
    payload["trackingId"] = tracking_id
    return ValidatedEnvelope.model_validate(payload)


def event_ids(envelope: ValidatedEnvelope) -> list[str]:
    return [event["eventHeader"]["uuid"] for event in envelope.events]


def held_by(tracking_id: str, expires_at: int) -> Claim:
    return Claim("e-1", tracking_id, "2024-03-02T09:00:00Z", expires_at)


def test_new_claim_expires_after_the_ttl_and_records_when_it_was_seen() -> None:
    claim = new_claim("e-1", "trk-1", NOW, ttl_seconds=TTL_SECONDS)

    assert claim == Claim("e-1", "trk-1", "2024-03-02T10:00:00Z", NOW_EPOCH + TTL_SECONDS)


@pytest.mark.parametrize(
    ("existing", "tracking_id", "available"),
    [
        (None, "trk-2", True),
        (held_by("trk-1", expires_at=NOW_EPOCH + 1), "trk-2", False),
        (held_by("trk-1", expires_at=NOW_EPOCH), "trk-2", False),
        (held_by("trk-1", expires_at=NOW_EPOCH - 1), "trk-2", True),
        (held_by("trk-1", expires_at=NOW_EPOCH + 1), "trk-1", True),
    ],
    ids=["unclaimed", "live", "expiring-this-second", "expired", "same-tracking-id"],
)
def test_claim_availability(existing: Claim | None, tracking_id: str, available: bool) -> None:
    assert claim_is_available(existing, tracking_id, NOW_EPOCH) is available


def test_first_run_keeps_every_event_and_counts_them_fresh() -> None:
    envelope = validated()

    result = dedupe_envelope(envelope, InMemoryClaimStore(), NOW, TTL_SECONDS)

    assert event_ids(result) == event_ids(envelope)
    assert result.duplicates == []
    assert result.counts == {**envelope.counts, "fresh": 4, "duplicates": 0}


def test_another_tracking_id_within_the_ttl_gets_only_duplicates() -> None:
    store = InMemoryClaimStore()
    dedupe_envelope(validated("trk-1"), store, NOW, TTL_SECONDS)

    result = dedupe_envelope(validated("trk-2"), store, NOW + timedelta(minutes=5), TTL_SECONDS)

    assert result.events == []
    assert result.duplicates == event_ids(validated())
    assert (result.counts["fresh"], result.counts["duplicates"]) == (0, 4)


def test_a_retry_of_the_same_tracking_id_is_fresh_again() -> None:
    store = InMemoryClaimStore()
    dedupe_envelope(validated("trk-1"), store, NOW, TTL_SECONDS)

    retry = dedupe_envelope(validated("trk-1"), store, NOW + timedelta(minutes=5), TTL_SECONDS)

    assert event_ids(retry) == event_ids(validated())
    assert retry.duplicates == []


def test_after_the_ttl_the_events_are_fresh_for_anyone() -> None:
    store = InMemoryClaimStore()
    dedupe_envelope(validated("trk-1"), store, NOW, TTL_SECONDS)
    later = NOW + timedelta(seconds=TTL_SECONDS + 1)

    result = dedupe_envelope(validated("trk-2"), store, later, TTL_SECONDS)

    assert result.counts["fresh"] == 4
    assert {claim.tracking_id for claim in store.claims.values()} == {"trk-2"}


def test_only_the_claimed_events_are_dropped() -> None:
    store = InMemoryClaimStore()
    first_event_id = event_ids(validated())[0]
    store.claim(new_claim(first_event_id, "trk-0", NOW, TTL_SECONDS), NOW_EPOCH)

    result = dedupe_envelope(validated("trk-1"), store, NOW, TTL_SECONDS)

    assert result.duplicates == [first_event_id]
    assert event_ids(result) == event_ids(validated())[1:]


def test_an_id_repeated_inside_the_envelope_is_kept_once() -> None:
    envelope = validated()
    envelope.events.append(copy.deepcopy(envelope.events[0]))

    result = dedupe_envelope(envelope, InMemoryClaimStore(), NOW, TTL_SECONDS)

    assert event_ids(result) == event_ids(validated())
    assert result.duplicates == [event_ids(validated())[0]]


def test_everything_else_in_the_envelope_passes_through() -> None:
    envelope = validated()

    result = dedupe_envelope(envelope, InMemoryClaimStore(), NOW, TTL_SECONDS).to_payload()

    assert result["rejected"] == envelope.rejected
    assert (result["trackingId"], result["source"]) == ("trk-1", "api")


def test_an_event_without_a_uuid_means_the_envelope_is_wrong() -> None:
    envelope = ValidatedEnvelope.model_validate(
        {"trackingId": "trk-1", "events": [{"eventHeader": {"eventName": "x"}}]}
    )

    with pytest.raises(InvalidEnvelopeError, match=r"events\.0\.eventHeader\.uuid"):
        dedupe_envelope(envelope, InMemoryClaimStore(), NOW, TTL_SECONDS)


# --- S3 objects (issue 3) ----------------------------------------------------------------------


def objects_envelope(tracking_id: str = "sqs-1", etag: str = "e1") -> ValidatedEnvelope:
    return ValidatedEnvelope.model_validate(
        {
            "trackingId": tracking_id,
            "source": "s3",
            "objects": [
                {"bucket": "landing", "key": "in/a b.ndjson", "etag": etag, "size": 10},
                {"bucket": "landing", "key": "in/c.ndjson.gz", "etag": "e2", "size": 20},
            ],
            "rejected": [],
            "duplicates": [],
            "counts": {"received": 2, "valid": 2, "rejected": 0},
        }
    )


def test_objects_are_claimed_by_location_and_etag() -> None:
    store = InMemoryClaimStore()

    result = dedupe_envelope(objects_envelope(), store, NOW, TTL_SECONDS)

    assert set(store.claims) == {"s3://landing/in/a b.ndjson#e1", "s3://landing/in/c.ndjson.gz#e2"}
    assert result.objects is not None
    assert [item.key for item in result.objects] == ["in/a b.ndjson", "in/c.ndjson.gz"]
    assert result.counts == {
        "received": 2,
        "valid": 2,
        "rejected": 0,
        "fresh": 2,
        "duplicates": 0,
    }


def test_an_object_announced_again_to_another_batch_is_a_duplicate() -> None:
    store = InMemoryClaimStore()
    dedupe_envelope(objects_envelope("sqs-1"), store, NOW, TTL_SECONDS)

    result = dedupe_envelope(objects_envelope("sqs-2"), store, NOW, TTL_SECONDS)

    assert result.objects == []
    assert result.duplicates == ["s3://landing/in/a b.ndjson#e1", "s3://landing/in/c.ndjson.gz#e2"]
    assert (result.counts["fresh"], result.counts["duplicates"]) == (0, 2)


def test_the_same_key_with_new_content_is_fresh() -> None:
    store = InMemoryClaimStore()
    dedupe_envelope(objects_envelope("sqs-1", etag="e1"), store, NOW, TTL_SECONDS)

    result = dedupe_envelope(objects_envelope("sqs-2", etag="e9"), store, NOW, TTL_SECONDS)

    assert result.objects is not None
    assert [item.etag for item in result.objects] == ["e9"]
    assert result.duplicates == ["s3://landing/in/c.ndjson.gz#e2"]


def test_a_retry_of_the_same_batch_keeps_its_objects() -> None:
    store = InMemoryClaimStore()
    dedupe_envelope(objects_envelope("sqs-1"), store, NOW, TTL_SECONDS)

    retry = dedupe_envelope(objects_envelope("sqs-1"), store, NOW, TTL_SECONDS)

    assert retry.counts["fresh"] == 2


def test_an_object_twice_in_one_envelope_is_kept_once() -> None:
    envelope = objects_envelope()
    assert envelope.objects is not None
    twice = envelope.model_copy(update={"objects": [envelope.objects[0], envelope.objects[0]]})

    result = dedupe_envelope(twice, InMemoryClaimStore(), NOW, TTL_SECONDS)

    assert result.objects == [envelope.objects[0]]
    assert result.duplicates == ["s3://landing/in/a b.ndjson#e1"]


def test_an_objects_envelope_goes_on_without_an_events_key() -> None:
    payload = dedupe_envelope(objects_envelope(), InMemoryClaimStore(), NOW, TTL_SECONDS)

    output = payload.to_payload()

    assert "events" not in output
    assert output["objects"][0] == {
        "bucket": "landing",
        "key": "in/a b.ndjson",
        "etag": "e1",
        "size": 10,
    }


def test_an_events_envelope_goes_on_without_an_objects_key() -> None:
    output = dedupe_envelope(validated(), InMemoryClaimStore(), NOW, TTL_SECONDS).to_payload()

    assert "objects" not in output
    assert "events" in output


def test_an_envelope_with_neither_events_nor_objects_is_malformed() -> None:
    with pytest.raises(ValueError, match="needs events or objects"):
        ValidatedEnvelope.model_validate({"trackingId": "t", "counts": {}})


class Statuses:
    """:class:`functions.dedupe.core.HolderStatuses` in a dict."""

    def __init__(self, **states: HolderState) -> None:
        self.states = states

    def state_of(self, tracking_id: str) -> HolderState | None:
        return self.states.get(tracking_id.replace("-", "_"))


def resent_after(state: HolderState | None) -> ValidatedEnvelope:
    """trk-2's envelope, dedupe'd after trk-1 claimed the same events and ended in ``state``."""
    store = InMemoryClaimStore()
    dedupe_envelope(validated("trk-1"), store, NOW, TTL_SECONDS)
    holders = Statuses() if state is None else Statuses(trk_1=state)
    return dedupe_envelope(validated("trk-2"), store, NOW, TTL_SECONDS, holders=holders)


@pytest.mark.parametrize(
    "state",
    [HolderState(Status.FAILED, terminal=True), HolderState(Status.REJECTED)],
    ids=["failed-in-its-fail-state", "rejected-while-bundling"],
)
def test_a_re_send_takes_over_the_claims_of_a_holder_that_never_delivers(
    state: HolderState,
) -> None:
    result = resent_after(state)

    assert event_ids(result) == event_ids(validated())
    assert (result.counts["fresh"], result.counts["takenOver"]) == (4, 4)
    assert result.duplicates == []


@pytest.mark.parametrize(
    "state",
    [
        None,
        HolderState(Status.FAILED),  # aborted or timed out: a redrive may still deliver
        HolderState(Status.ARCHIVED),  # still running
        HolderState(Status.DELIVERED),
    ],
    ids=["no-record", "failed-unmarked", "running", "delivered"],
)
def test_a_holder_that_may_still_deliver_keeps_its_claims(state: HolderState | None) -> None:
    result = resent_after(state)

    assert result.events == []
    assert result.counts["duplicates"] == 4
    assert "takenOver" not in result.counts
    assert "parkedHolders" not in result.to_payload()


def test_a_parked_holder_keeps_its_claims_and_is_named() -> None:
    result = resent_after(HolderState(Status.PARKED))

    assert result.events == []
    assert result.to_payload()["parkedHolders"] == ["trk-1"]


def test_of_two_racing_re_sends_only_one_takes_over() -> None:
    store = InMemoryClaimStore()
    dedupe_envelope(validated("trk-1"), store, NOW, TTL_SECONDS)
    holders = Statuses(trk_1=HolderState(Status.FAILED, terminal=True))

    first = dedupe_envelope(validated("trk-2"), store, NOW, TTL_SECONDS, holders=holders)
    second = dedupe_envelope(validated("trk-3"), store, NOW, TTL_SECONDS, holders=holders)

    assert first.counts["fresh"] == 4
    assert second.counts["fresh"] == 0
    assert {claim.tracking_id for claim in store.claims.values()} == {"trk-2"}


def test_a_take_over_lost_to_another_writer_is_a_duplicate() -> None:
    class Racing(InMemoryClaimStore):
        def take_over(self, claim: Claim, previous_holder: str) -> bool:
            return False

    store = Racing()
    dedupe_envelope(validated("trk-1"), store, NOW, TTL_SECONDS)
    holders = Statuses(trk_1=HolderState(Status.FAILED, terminal=True))

    result = dedupe_envelope(validated("trk-2"), store, NOW, TTL_SECONDS, holders=holders)

    assert result.counts["duplicates"] == 4
