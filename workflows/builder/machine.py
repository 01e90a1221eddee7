"""The state machine: a start state plus top-level settings, rendered to an ASL dict."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflows.builder.exceptions import DefinitionError
from workflows.builder.graph import Chain, FunctionArn, GraphWalk, RenderContext, State, start_of


@dataclass(frozen=True, eq=False)
class StateMachine:
    """A whole workflow. Satisfies ``stack.spec.Definition``.

    Example::

        machine = StateMachine(
            start=Chain.start(validate).next(Succeed("Done")),
            comment="Events in; validate and record.",
            timeout_seconds=300,
        )
        machine.render(lambda name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}")
        machine.referenced_functions()  # frozenset({"validate"})
    """

    start: State | Chain
    comment: str | None = None
    timeout_seconds: int | None = None

    def __post_init__(self) -> None:
        if self.timeout_seconds is not None and self.timeout_seconds < 1:
            raise DefinitionError("a state machine's TimeoutSeconds must be positive")

    def render(self, function_arn: FunctionArn) -> dict[str, Any]:
        """The ASL definition as a dict (JSONPath query language).

        ``function_arn`` maps a function's logical name to its ARN; whatever it returns (a string,
        a Pulumi ``Output``) is placed in the dict unchanged, for its owner to serialise.
        """
        walk = self._walk()
        context = RenderContext(function_arn=function_arn, graphs=walk.graphs)
        body = context.render_graph(start_of(self.start))
        rendered: dict[str, Any] = {}
        if self.comment is not None:
            rendered["Comment"] = self.comment
        rendered |= body
        if self.timeout_seconds is not None:
            rendered["TimeoutSeconds"] = self.timeout_seconds
        return rendered

    def referenced_functions(self) -> frozenset[str]:
        """The logical names of every Lambda the graph invokes, nested graphs included.

        The stack derives the state machine's ``lambda:InvokeFunction`` permission from this.
        """
        return frozenset().union(*(state.function_names() for state in self._walk().all_states()))

    def _walk(self) -> GraphWalk:
        walk = GraphWalk()
        walk.walk(start_of(self.start))
        return walk
