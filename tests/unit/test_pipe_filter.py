"""The Pipes filter-criteria matcher: the EventBridge pattern subset the stack may use."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local.pipe_filter import MAX_FILTERS, compile_filters, filterable
from stack.app import build_app
from stack.spec import StackConfig

NO_EVENT_KEY = '{"body": {"Event": [{"exists": false}]}}'
S3_TEST_EVENT = json.dumps(
    {
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": "2024-01-01T00:00:00.000Z",
        "Bucket": "landing",
        "RequestId": "r",
        "HostId": "h",
    }
)
S3_NOTIFICATION = json.dumps(
    {
        "Records": [
            {
                "eventSource": "aws:s3",
                "eventName": "ObjectCreated:Put",
                "s3": {"bucket": {"name": "landing"}, "object": {"key": "a.json", "size": 12}},
            }
        ]
    }
)


def _record(body: str, **fields: Any) -> dict[str, Any]:
    return {"messageId": "m", "body": body, "eventSource": "aws:sqs", **fields}


def _matches(pattern: dict[str, Any] | str, body: Any, **fields: Any) -> bool:
    source = pattern if isinstance(pattern, str) else json.dumps(pattern)
    text = body if isinstance(body, str) else json.dumps(body)
    return compile_filters([source])(_record(text, **fields))


def test_the_aggregate_pipe_drops_the_s3_test_event_only() -> None:
    matches = compile_filters([NO_EVENT_KEY])
    assert not matches(_record(S3_TEST_EVENT))
    assert matches(_record(S3_NOTIFICATION))


def test_the_app_filters_the_aggregate_pipe_and_not_ingest() -> None:
    pipes = {pipe.name: pipe for pipe in build_app(StackConfig()).pipes}
    assert pipes["aggregate"].filter_patterns == (NO_EVENT_KEY,)
    assert pipes["ingest"].filter_patterns == ()
    for pipe in pipes.values():
        compile_filters(pipe.filter_patterns)  # every pattern is one the runtime implements


def test_no_filters_pass_everything() -> None:
    assert compile_filters([])(_record("not json"))


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"Event": "x"}, True),
        ({"Event": None}, True),  # null is a value: the field exists
        ({"Event": ["x"]}, True),
        ({"Other": "x"}, False),
        ({}, False),
        ({"Event": {"nested": 1}}, False),  # exists is for leaves, not objects
        ("plain text", False),
    ],
)
def test_exists_true(body: Any, expected: bool) -> None:
    assert _matches({"body": {"Event": [{"exists": True}]}}, body) is expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"Event": "x"}, False),
        ({"Event": None}, False),
        ({"Other": "x"}, True),
        ({}, True),
        ("plain text", True),  # a string body has no fields
        ("[1, 2]", True),  # nor has a JSON array
        ('{"Event": ', True),  # nor has malformed JSON
    ],
)
def test_exists_false(body: Any, expected: bool) -> None:
    assert _matches(NO_EVENT_KEY, body) is expected


def test_a_non_json_body_is_matched_as_a_string() -> None:
    assert _matches({"body": ["hello"]}, "hello")
    assert _matches({"body": [{"prefix": "hel"}]}, "hello")
    assert not _matches({"body": {"greeting": ["hello"]}}, "hello")
    assert filterable(_record("hello"))["body"] == "hello"
    assert filterable(_record('{"a": 1}'))["body"] == {"a": 1}


def test_record_fields_other_than_the_body_are_matched_as_they_are() -> None:
    pattern = {"eventSource": ["aws:sqs"], "attributes": {"ApproximateReceiveCount": ["1"]}}
    assert _matches(pattern, "x", attributes={"ApproximateReceiveCount": "1"})
    assert not _matches(pattern, "x", attributes={"ApproximateReceiveCount": "2"})


def test_literals_are_exact_and_typed() -> None:
    assert _matches({"body": {"n": [5]}}, {"n": 5.0})
    assert not _matches({"body": {"n": ["5"]}}, {"n": 5})
    assert not _matches({"body": {"flag": [True]}}, {"flag": 1})
    assert not _matches({"body": {"n": [1]}}, {"n": True})
    assert _matches({"body": {"flag": [False]}}, {"flag": False})
    assert _matches({"body": {"v": [None]}}, {"v": None})
    assert not _matches({"body": {"v": [None]}}, {})
    assert _matches({"body": {"kind": ["a", "b"]}}, {"kind": "b"})
    assert not _matches({"body": {"kind": ["a", "b"]}}, {"kind": "c"})
    assert not _matches({"body": {"kind": ["a"]}}, {"kind": "A"})


def test_event_arrays_match_when_any_element_does() -> None:
    assert _matches({"body": {"tags": ["red"]}}, {"tags": ["blue", "red"]})
    assert not _matches({"body": {"tags": ["red"]}}, {"tags": ["blue"]})
    records = {"Records": [{"eventName": "ObjectRemoved"}, {"eventName": "ObjectCreated:Put"}]}
    assert _matches({"body": {"Records": {"eventName": [{"prefix": "ObjectCreated"}]}}}, records)


def test_nested_objects_need_every_field() -> None:
    pattern = {"body": {"s3": {"bucket": {"name": ["landing"]}, "object": {"size": [12]}}}}
    body = json.loads(S3_NOTIFICATION)["Records"][0]
    assert _matches(pattern, body)
    assert not _matches(pattern, {**body, "s3": {"bucket": {"name": "landing"}}})
    assert not _matches(pattern, {"s3": "landing"})


def test_prefix() -> None:
    assert _matches({"body": {"key": [{"prefix": "in/"}]}}, {"key": "in/a.json"})
    assert not _matches({"body": {"key": [{"prefix": "in/"}]}}, {"key": "out/a.json"})
    assert not _matches({"body": {"key": [{"prefix": "1"}]}}, {"key": 12})
    assert not _matches({"body": {"key": [{"prefix": ""}]}}, {})


def test_anything_but() -> None:
    assert _matches({"body": {"state": [{"anything-but": "done"}]}}, {"state": "open"})
    assert not _matches({"body": {"state": [{"anything-but": "done"}]}}, {"state": "done"})
    assert not _matches({"body": {"state": [{"anything-but": ["a", "b"]}]}}, {"state": "b"})
    assert _matches({"body": {"state": [{"anything-but": ["a", "b"]}]}}, {"state": "c"})
    assert _matches({"body": {"n": [{"anything-but": [1, 2]}]}}, {"n": 3})
    assert not _matches({"body": {"n": [{"anything-but": 1}]}}, {"n": 1.0})
    assert not _matches({"body": {"state": [{"anything-but": "done"}]}}, {})  # must exist


def test_numeric() -> None:
    pattern = {"body": {"size": [{"numeric": [">", 0, "<=", 100]}]}}
    assert _matches(pattern, {"size": 100})
    assert _matches(pattern, {"size": 0.5})
    assert not _matches(pattern, {"size": 0})
    assert not _matches(pattern, {"size": 101})
    assert not _matches(pattern, {"size": "50"})
    assert not _matches(pattern, {"size": True})
    assert not _matches(pattern, {})
    assert _matches({"body": {"size": [{"numeric": ["=", 3]}]}}, {"size": 3.0})


def test_any_filter_may_match() -> None:
    matches = compile_filters(['{"body": {"kind": ["a"]}}', '{"body": {"kind": ["b"]}}'])
    assert matches(_record('{"kind": "b"}'))
    assert not matches(_record('{"kind": "c"}'))


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ('{"body": {"key": [{"suffix": ".json"}]}}', "unsupported operator 'suffix'"),
        ('{"body": {"key": [{"wildcard": "*.json"}]}}', "unsupported operator 'wildcard'"),
        ('{"body": {"key": [{"equals-ignore-case": "a"}]}}', "unsupported operator"),
        ('{"$or": [{"a": ["x"]}, {"b": ["y"]}]}', r"unsupported operator '\$or'"),
        ('{"body": {"key": [{"anything-but": {"prefix": "a"}}]}}', "invalid 'anything-but'"),
        ('{"body": {"key": [{"prefix": "a", "numeric": [">", 1]}]}}', "unsupported condition"),
        ('{"body": {"n": [{"numeric": ["!=", 1]}]}}', "invalid 'numeric'"),
        ('{"body": {"n": [{"numeric": [">"]}]}}', "invalid 'numeric'"),
        ('{"body": {"n": [{"exists": "yes"}]}}', "invalid 'exists'"),
        ('{"body": {"key": "value"}}', "non-empty array"),
        ('{"body": {"key": []}}', "non-empty array"),
        ('{"body": {}}', "non-empty JSON object"),
        ('["a"]', "non-empty JSON object"),
        ("{not json", "not JSON"),
    ],
)
def test_unsupported_or_malformed_patterns_are_refused(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compile_filters([pattern])


def test_at_most_five_filters() -> None:
    compile_filters([NO_EVENT_KEY] * MAX_FILTERS)
    with pytest.raises(ValueError, match="at most 5"):
        compile_filters([NO_EVENT_KEY] * (MAX_FILTERS + 1))
