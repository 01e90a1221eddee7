"""GET /users/{userId}/enrichments: a user's enrichments, newest first, a page at a time."""

from __future__ import annotations

from typing import Any

import pytest

from tests.functional.api.support import (
    post_enrichments,
    user_page,
)


def test_a_users_enrichments_are_listed_newest_first_a_page_at_a_time(call: Any) -> None:
    posted = post_enrichments(call, "u-1", 5)
    post_enrichments(call, "u-2", 2)

    pages = [call(user_page(limit="2"))]
    while pages[-1].body["nextToken"] is not None:
        pages.append(call(user_page(limit="2", nextToken=pages[-1].body["nextToken"])))

    assert [page.status for page in pages] == [200, 200, 200]
    listed = [entry for page in pages for entry in page.body["enrichments"]]
    assert [entry["trackingId"] for entry in listed] == posted[::-1]
    assert [len(page.body["enrichments"]) for page in pages] == [2, 2, 1]
    newest = listed[0]
    assert newest == {
        "trackingId": posted[-1],
        "catalogId": "cat-4",
        "userId": "u-1",
        "status": "RECEIVED",
        "totalProducts": 5,
        "totalBatches": 2,
        "startedAt": newest["startedAt"],
        "finishedAt": None,
    }
    assert all(page.headers["Cache-Control"] == "no-store" for page in pages)


def test_the_list_defaults_to_20_and_a_last_full_page_has_no_token(call: Any) -> None:
    post_enrichments(call, "u-1", 3)

    default = call(user_page())
    exact = call(user_page(limit="3"))

    assert len(default.body["enrichments"]) == 3
    assert default.body["nextToken"] is None
    assert exact.body["nextToken"] is None


def test_a_finished_enrichment_is_listed_with_its_final_counts(call: Any, record: Any) -> None:
    (tracking_id,) = post_enrichments(call, "u-1", 1)
    ids = {"catalogId": "cat-0", "trackingId": tracking_id}
    record({**ids, "status": "PLANNED", "totalProducts": 1, "totalBatches": 1})
    record(
        {**ids, "batchId": f"{tracking_id}#batch-00000", "status": "ENRICHED"}
        | {"enriched": 1, "failed": 0, "failures": []}
    )
    record({**ids, "status": "COMPLETE"})

    (entry,) = call(user_page()).body["enrichments"]

    assert entry["status"] == "COMPLETE"
    assert (entry["batchesDone"], entry["productsEnriched"], entry["productsFailed"]) == (1, 1, 0)
    assert entry["finishedAt"] is not None


def test_a_user_without_enrichments_has_an_empty_list(call: Any) -> None:
    answer = call(user_page("nobody"))

    assert (answer.status, answer.body) == (200, {"enrichments": [], "nextToken": None})


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "101"}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"nextToken": "not-a-token"}, "query.nextToken"),
        ({"nextToken": "W10"}, "query.nextToken"),
        ({"nextToken": "x" * 1025}, "query.nextToken"),
    ],
)
def test_a_malformed_limit_or_token_is_a_400(call: Any, query: dict[str, str], field: str) -> None:
    answer = call(user_page(**query))

    assert answer.status == 400
    assert [error["field"] for error in answer.body["errors"]] == [field]
    assert all(error["reason"] for error in answer.body["errors"])
