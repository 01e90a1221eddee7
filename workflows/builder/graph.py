"""States as nodes, chains that link them, and the walk that turns a start state into ASL.

States are mutable on purpose (``a.next(b)`` links ``a`` to ``b``, as in CDK): a graph with loops
or shared handlers is then written naturally. Everything that could make the ASL invalid is checked
when the graph is walked at render time, where the whole graph is finally known.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from workflows.builder.exceptions import DefinitionError, DuplicateStateNameError

FunctionArn: TypeAlias = Callable[[str], Any]
"""A function's logical name -> its ARN: a string, or an opaque value such as a Pulumi Output."""


@dataclass(eq=False)
class State(ABC):
    """A named node of the graph. States compare by identity, so two objects are two states."""

    name: str
    comment: str | None = field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 80:
            raise DefinitionError(f"state names take 1 to 80 characters, got {self.name!r}")

    @abstractmethod
    def transitions(self) -> tuple[State, ...]:
        """The states this one can move to in its own graph, main path first."""

    def check(self) -> None:  # noqa: B027 - most states are complete once constructed
        """Raise :class:`DefinitionError` if this state is incomplete; called once per walk."""

    def nested_starts(self) -> tuple[State, ...]:
        """The start states of the graphs this state runs inside itself (Map, Parallel)."""
        return ()

    def function_names(self) -> frozenset[str]:
        """The logical names of the Lambdas this state itself invokes."""
        return frozenset()

    @abstractmethod
    def render(self, context: RenderContext) -> dict[str, Any]:
        """This state's ASL object (without its name)."""

    def _head(self, state_type: str) -> dict[str, Any]:
        head: dict[str, Any] = {"Type": state_type}
        if self.comment is not None:
            head["Comment"] = self.comment
        return head


@dataclass(eq=False)
class NextableState(State):
    """A state that moves on to one next state, or ends its graph when it has none."""

    _next: State | None = field(default=None, init=False, repr=False)

    def next(self, state: State | Chain) -> Chain:
        """Continue with ``state`` after this one.

        Example::

            Pass("Start").next(Succeed("Done"))
        """
        return Chain.start(self).next(state)

    def transitions(self) -> tuple[State, ...]:
        return () if self._next is None else (self._next,)

    def link(self, state: State) -> None:
        """Set the next state; a state has one ``Next``, so linking twice is a mistake."""
        if self._next is not None:
            raise DefinitionError(
                f"state {self.name!r} already continues with {self._next.name!r}; "
                f"it cannot also continue with {state.name!r}"
            )
        self._next = state

    def _tail(self) -> dict[str, Any]:
        return {"End": True} if self._next is None else {"Next": self._next.name}


@dataclass(frozen=True, eq=False)
class Chain:
    """A run of states with one entry and the states still open for a ``next``.

    Example::

        chain = Chain.start(validate).next(dedupe).next(Succeed("Done"))
    """

    first: State
    ends: tuple[NextableState, ...]

    @staticmethod
    def start(state: State | Chain) -> Chain:
        """A chain that begins with ``state`` (a chain passed in is returned as it is)."""
        if isinstance(state, Chain):
            return state
        ends = (state,) if isinstance(state, NextableState) else ()
        return Chain(first=state, ends=ends)

    def next(self, state: State | Chain) -> Chain:
        """Link every open end of this chain to ``state``; the result ends where ``state`` ends."""
        following = Chain.start(state)
        if not self.ends:
            raise DefinitionError(
                f"the chain starting at {self.first.name!r} ends in a terminal state "
                f"(Succeed, Fail or Choice); nothing can follow it"
            )
        for end in self.ends:
            end.link(following.first)
        return Chain(first=self.first, ends=following.ends)


def start_of(state: State | Chain) -> State:
    """The entry state of a state or a chain."""
    return state.first if isinstance(state, Chain) else state


@dataclass(frozen=True, eq=False)
class StateGraph:
    """The states reachable from ``start`` in one scope, in graph order (depth first, main path
    first), so a rendered definition reads top to bottom like the happy path."""

    start: State
    states: tuple[State, ...]


@dataclass(frozen=True, eq=False)
class RenderContext:
    """What a state needs to render: function ARNs and the already checked nested graphs."""

    function_arn: FunctionArn
    graphs: dict[State, StateGraph]

    def render_graph(self, start: State) -> dict[str, Any]:
        """``{"StartAt": ..., "States": {...}}`` for the graph entered at ``start``."""
        graph = self.graphs[start]
        return {
            "StartAt": graph.start.name,
            "States": {state.name: state.render(self) for state in graph.states},
        }


@dataclass
class GraphWalk:
    """Walks a whole definition once, nested graphs included, and checks it as a whole.

    ASL requires unique state names across the whole state machine, and a state inside a Map or
    Parallel cannot move to a state outside it; both are caught here.
    """

    graphs: dict[State, StateGraph] = field(default_factory=dict)
    _scope_of: dict[State, int] = field(default_factory=dict)
    _by_name: dict[str, State] = field(default_factory=dict)

    def walk(self, start: State) -> StateGraph:
        """Collect and check the graph entered at ``start`` and every graph nested in it."""
        scope = len(self.graphs)
        order: list[State] = []
        pending = [start]
        while pending:
            state = pending.pop()
            if self._scope_of.get(state) == scope:
                continue
            self._register(state, scope)
            state.check()
            order.append(state)
            # Reversed so the first transition (the main path) is walked first.
            pending.extend(reversed(state.transitions()))
        graph = StateGraph(start=start, states=tuple(order))
        self.graphs[start] = graph
        for state in order:
            for nested in state.nested_starts():
                self.walk(nested)
        return graph

    def all_states(self) -> Iterator[State]:
        """Every state seen so far, across all scopes."""
        return iter(self._scope_of)

    def _register(self, state: State, scope: int) -> None:
        known = self._by_name.get(state.name)
        if known is not None and known is not state:
            raise DuplicateStateNameError(
                f"two different states are named {state.name!r}; state names must be unique "
                f"across the whole state machine"
            )
        if state in self._scope_of:
            raise DefinitionError(
                f"state {state.name!r} is reached from inside and outside a Map or Parallel; "
                f"a nested graph cannot move to a state outside it"
            )
        self._by_name[state.name] = state
        self._scope_of[state] = scope
