"""The flow states that run no code: Pass, Wait, Choice, Succeed and Fail."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from workflows.builder.conditions import Condition
from workflows.builder.exceptions import DefinitionError
from workflows.builder.graph import Chain, NextableState, RenderContext, State, start_of
from workflows.builder.paths import ResultPath, check_path, render_result_path


@dataclass(eq=False, kw_only=True)
class Pass(NextableState):
    """Passes its input on, optionally reshaped (``parameters``) or replaced (``result``).

    Example::

        Pass("Mark as received", result={"status": "RECEIVED"}, result_path="$.progress")
    """

    parameters: Mapping[str, Any] | None = None
    result: Any = None
    result_path: ResultPath = None
    output_path: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_path("OutputPath", self.output_path)

    def render(self, context: RenderContext) -> dict[str, Any]:
        rendered = self._head("Pass")
        if self.parameters is not None:
            rendered["Parameters"] = copy.deepcopy(dict(self.parameters))
        if self.result is not None:
            rendered["Result"] = copy.deepcopy(self.result)
        rendered.update(render_result_path(self.result_path))
        if self.output_path is not None:
            rendered["OutputPath"] = self.output_path
        return rendered | self._tail()


@dataclass(eq=False, kw_only=True)
class Wait(NextableState):
    """Waits a fixed number of ``seconds``, or the number found at ``seconds_path``.

    Example::

        Wait("Let the dependency recover", seconds=30)
    """

    seconds: int | None = None
    seconds_path: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.seconds is None) == (self.seconds_path is None):
            raise DefinitionError(f"Wait {self.name!r} takes exactly one of seconds, seconds_path")
        if self.seconds is not None and self.seconds < 0:
            raise DefinitionError(f"Wait {self.name!r} cannot wait a negative time")
        check_path("SecondsPath", self.seconds_path)

    def render(self, context: RenderContext) -> dict[str, Any]:
        rendered = self._head("Wait")
        if self.seconds is not None:
            rendered["Seconds"] = self.seconds
        else:
            rendered["SecondsPath"] = self.seconds_path
        return rendered | self._tail()


@dataclass(eq=False)
class Succeed(State):
    """Ends the execution (or its Map iteration or Parallel branch) successfully.

    Example::

        Chain.start(validate).next(Succeed("Done"))
    """

    def transitions(self) -> tuple[State, ...]:
        return ()

    def render(self, context: RenderContext) -> dict[str, Any]:
        return self._head("Succeed")


@dataclass(eq=False, kw_only=True)
class Fail(State):
    """Ends the execution as failed, with a fixed error and cause or ones read from the input.

    ``error`` takes an exception class, so the execution fails with the same name a Lambda
    raising it would report.

    Example::

        Fail("Failed", error_path="$.error.Error", cause_path="$.error.Cause")
    """

    error: str | type[BaseException] | None = None
    cause: str | None = None
    error_path: str | None = None
    cause_path: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.error is not None and self.error_path is not None:
            raise DefinitionError(f"Fail {self.name!r} takes error or error_path, not both")
        if self.cause is not None and self.cause_path is not None:
            raise DefinitionError(f"Fail {self.name!r} takes cause or cause_path, not both")
        check_path("ErrorPath", self.error_path)
        check_path("CausePath", self.cause_path)

    def transitions(self) -> tuple[State, ...]:
        return ()

    def render(self, context: RenderContext) -> dict[str, Any]:
        rendered = self._head("Fail")
        if self.error is not None:
            rendered["Error"] = self.error if isinstance(self.error, str) else self.error.__name__
        if self.error_path is not None:
            rendered["ErrorPath"] = self.error_path
        if self.cause is not None:
            rendered["Cause"] = self.cause
        if self.cause_path is not None:
            rendered["CausePath"] = self.cause_path
        return rendered


@dataclass(eq=False)
class Choice(State):
    """Moves to the first branch whose condition holds, else to ``otherwise``.

    A Choice ends the chain it is in: each branch is a chain of its own.

    Example::

        Choice("Has tracking id?")
        .when(Condition.is_present("$.trackingId"), record_failure)
        .otherwise(failed)
    """

    _branches: list[tuple[Condition, State]] = field(default_factory=list, init=False, repr=False)
    _default: State | None = field(default=None, init=False, repr=False)

    def when(self, condition: Condition, next: State | Chain) -> Choice:
        """Go to ``next`` when ``condition`` holds (branches are tried in the order added)."""
        self._branches.append((condition, start_of(next)))
        return self

    def otherwise(self, next: State | Chain) -> Choice:
        """Go to ``next`` when no branch matches (else the state fails: States.NoChoiceMatched)."""
        if self._default is not None:
            raise DefinitionError(f"Choice {self.name!r} already has a default branch")
        self._default = start_of(next)
        return self

    def check(self) -> None:
        if not self._branches:
            raise DefinitionError(f"Choice {self.name!r} needs at least one when(...) branch")

    def transitions(self) -> tuple[State, ...]:
        targets = tuple(target for _, target in self._branches)
        return targets if self._default is None else (*targets, self._default)

    def render(self, context: RenderContext) -> dict[str, Any]:
        rendered = self._head("Choice")
        rendered["Choices"] = [
            condition.render() | {"Next": target.name} for condition, target in self._branches
        ]
        if self._default is not None:
            rendered["Default"] = self._default.name
        return rendered
