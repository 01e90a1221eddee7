"""Chains and whole-graph rendering: strict equality on the full ASL, as CDK's tests do."""

from __future__ import annotations

from typing import Any

import pytest

from tests.workflows.support import function_arn
from workflows.builder import (
    Chain,
    Choice,
    Condition,
    DefinitionError,
    DuplicateStateNameError,
    LambdaInvoke,
    Map,
    Parallel,
    Pass,
    StateMachine,
    Succeed,
    Wait,
)


def _machine(start: Any, **kwargs: Any) -> dict[str, Any]:
    rendered: dict[str, Any] = StateMachine(start=start, **kwargs).render(function_arn)
    return rendered


def test_a_chain_renders_to_the_full_definition() -> None:
    first = Pass("Start here", result={"step": 1}, result_path="$.progress")
    second = Wait("Wait a moment", seconds=5)

    rendered = _machine(
        Chain.start(first).next(second).next(Succeed("Done")),
        comment="A small chain.",
        timeout_seconds=120,
    )

    assert rendered == {
        "Comment": "A small chain.",
        "StartAt": "Start here",
        "States": {
            "Start here": {
                "Type": "Pass",
                "Result": {"step": 1},
                "ResultPath": "$.progress",
                "Next": "Wait a moment",
            },
            "Wait a moment": {"Type": "Wait", "Seconds": 5, "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
        "TimeoutSeconds": 120,
    }


def test_top_level_keys_come_in_a_stable_order() -> None:
    rendered = _machine(Pass("Only"), comment="c", timeout_seconds=10)

    assert list(rendered) == ["Comment", "StartAt", "States", "TimeoutSeconds"]


def test_comment_and_timeout_are_left_out_when_not_set() -> None:
    assert _machine(Pass("Only")) == {
        "StartAt": "Only",
        "States": {"Only": {"Type": "Pass", "End": True}},
    }


def test_state_next_returns_a_chain_that_can_continue() -> None:
    chain = Pass("One").next(Pass("Two")).next(Pass("Three"))

    assert _machine(chain)["States"] == {
        "One": {"Type": "Pass", "Next": "Two"},
        "Two": {"Type": "Pass", "Next": "Three"},
        "Three": {"Type": "Pass", "End": True},
    }


def test_chains_compose_with_chains() -> None:
    head = Chain.start(Pass("One")).next(Pass("Two"))
    tail = Chain.start(Pass("Three")).next(Pass("Four"))

    assert list(_machine(head.next(tail))["States"]) == ["One", "Two", "Three", "Four"]


def test_states_come_in_graph_order_main_path_first() -> None:
    failure = Pass("Handle the failure")
    ok = Pass("Keep going")
    choice = (
        Choice("Is it fine?")
        .when(Condition.boolean_equals("$.fine", True), ok.next(Succeed("Done")))
        .otherwise(failure)
    )

    states = _machine(Pass("Begin").next(choice))["States"]

    assert list(states) == ["Begin", "Is it fine?", "Keep going", "Done", "Handle the failure"]


def test_a_loop_renders_each_state_once() -> None:
    wait = Wait("Wait for the job", seconds=10)
    check = Pass("Check the job")
    done = Choice("Is the job done?")
    done.when(Condition.string_equals("$.job", "DONE"), Succeed("Done")).otherwise(wait)

    states = _machine(wait.next(check).next(done))["States"]

    assert list(states) == ["Wait for the job", "Check the job", "Is the job done?", "Done"]
    assert states["Is the job done?"]["Default"] == "Wait for the job"


def test_every_next_names_a_rendered_state() -> None:
    choice = Choice("Branch").when(Condition.is_present("$.x"), Pass("X")).otherwise(Pass("Y"))

    states = _machine(Pass("A").next(choice))["States"]

    targets = [states["A"]["Next"], states["Branch"]["Default"]]
    targets += [rule["Next"] for rule in states["Branch"]["Choices"]]
    assert set(targets) <= set(states)


def test_a_state_left_unlinked_is_not_rendered() -> None:
    Pass("Never linked")

    assert list(_machine(Pass("Linked"))["States"]) == ["Linked"]


def test_duplicate_state_names_are_rejected_at_render_time() -> None:
    chain = Pass("Same name").next(Pass("Same name"))

    with pytest.raises(DuplicateStateNameError, match="Same name"):
        _machine(chain)


def test_duplicate_names_across_a_nested_graph_are_rejected() -> None:
    mapper = Map("Each item").item_processor(Pass("Step"))

    with pytest.raises(DuplicateStateNameError, match="Step"):
        _machine(Pass("Step").next(mapper))


def test_a_nested_state_cannot_move_outside_its_graph() -> None:
    outside = Succeed("Outside")
    inner = Pass("Inner")
    inner.next(outside)
    mapper = Map("Each item").item_processor(inner)

    with pytest.raises(DefinitionError, match="inside and outside"):
        _machine(mapper.next(outside))


def test_nothing_can_follow_a_terminal_state() -> None:
    chain = Pass("Start").next(Succeed("Done"))

    with pytest.raises(DefinitionError, match="terminal"):
        chain.next(Pass("After"))


def test_a_state_takes_only_one_next() -> None:
    first = Pass("First")
    first.next(Pass("Second"))

    with pytest.raises(DefinitionError, match="already continues"):
        first.next(Pass("Other"))


def test_state_names_take_one_to_eighty_characters() -> None:
    with pytest.raises(DefinitionError):
        Pass("")
    with pytest.raises(DefinitionError):
        Pass("x" * 81)


def test_rendering_twice_gives_equal_definitions() -> None:
    machine = StateMachine(start=LambdaInvoke("Call it", function="f"))

    assert machine.render(function_arn) == machine.render(function_arn)


def test_function_arns_are_placed_as_returned_never_stringified() -> None:
    class OpaqueOutput:
        """Stands in for a Pulumi Output, which must reach the dict untouched."""

    arns: dict[str, OpaqueOutput] = {}

    def opaque_arn(name: str) -> OpaqueOutput:
        return arns.setdefault(name, OpaqueOutput())

    rendered = StateMachine(start=LambdaInvoke("Call it", function="f")).render(opaque_arn)

    assert rendered["States"]["Call it"]["Parameters"]["FunctionName"] is arns["f"]


def test_referenced_functions_include_nested_graphs() -> None:
    mapper = Map("Each item", items_path="$.items").item_processor(
        LambdaInvoke("Handle an item", function="item_handler")
    )
    fan_out = Parallel("Fan out").branch(
        LambdaInvoke("Left", function="left"), LambdaInvoke("Right", function="right")
    )
    chain = LambdaInvoke("First", function="first").next(mapper).next(fan_out)

    assert StateMachine(start=chain).referenced_functions() == frozenset(
        {"first", "item_handler", "left", "right"}
    )


def test_referenced_functions_checks_the_graph_too() -> None:
    chain = LambdaInvoke("Same", function="a").next(LambdaInvoke("Same", function="b"))

    with pytest.raises(DuplicateStateNameError):
        StateMachine(start=chain).referenced_functions()
