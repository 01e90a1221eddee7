"""States that run graphs of their own: Map (one graph per item) and Parallel (all branches)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from workflows.builder.exceptions import DefinitionError
from workflows.builder.graph import Chain, NextableState, RenderContext, State, start_of
from workflows.builder.paths import ResultPath, check_path, render_result_path
from workflows.builder.retry import Catch, Retry, render_error_handling


@dataclass(eq=False, kw_only=True)
class _Nesting(NextableState):
    """What Map and Parallel share: result shaping and error handling around nested graphs."""

    result_selector: Mapping[str, Any] | None = None
    result_path: ResultPath = None
    output_path: str | None = None
    retry: Sequence[Retry] = ()
    catch: Sequence[Catch] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_path("OutputPath", self.output_path)
        self.retry = tuple(self.retry)
        self.catch = tuple(self.catch)

    def transitions(self) -> tuple[State, ...]:
        return (*super().transitions(), *(entry.handler for entry in self.catch))

    def _render_outcome(self) -> dict[str, Any]:
        rendered: dict[str, Any] = {}
        if self.result_selector is not None:
            rendered["ResultSelector"] = copy.deepcopy(dict(self.result_selector))
        rendered.update(render_result_path(self.result_path))
        if self.output_path is not None:
            rendered["OutputPath"] = self.output_path
        rendered.update(render_error_handling(self.retry, self.catch))
        return rendered | self._tail()


@dataclass(eq=False, kw_only=True)
class Map(_Nesting):
    """Runs ``item_processor`` once per item of the array at ``items_path`` (inline mode).

    Example::

        Map("Deliver each bundle", items_path="$.bundles", max_concurrency=5)
        .item_processor(Chain.start(deliver).next(Succeed("Delivered")))
    """

    items_path: str | None = None
    item_selector: Mapping[str, Any] | None = None
    max_concurrency: int | None = None
    _processor: State | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_path("ItemsPath", self.items_path)
        if self.max_concurrency is not None and self.max_concurrency < 0:
            raise DefinitionError(f"Map {self.name!r} cannot have a negative MaxConcurrency")

    def item_processor(self, chain: State | Chain) -> Map:
        """Set the graph each item runs through."""
        if self._processor is not None:
            raise DefinitionError(f"Map {self.name!r} already has an item processor")
        self._processor = start_of(chain)
        return self

    def check(self) -> None:
        if self._processor is None:
            raise DefinitionError(f"Map {self.name!r} needs an item_processor(...)")

    def nested_starts(self) -> tuple[State, ...]:
        return () if self._processor is None else (self._processor,)

    def render(self, context: RenderContext) -> dict[str, Any]:
        assert self._processor is not None, "checked by the graph walk"
        rendered = self._head("Map")
        if self.items_path is not None:
            rendered["ItemsPath"] = self.items_path
        if self.item_selector is not None:
            rendered["ItemSelector"] = copy.deepcopy(dict(self.item_selector))
        if self.max_concurrency is not None:
            rendered["MaxConcurrency"] = self.max_concurrency
        rendered["ItemProcessor"] = {
            "ProcessorConfig": {"Mode": "INLINE"},
            **context.render_graph(self._processor),
        }
        return rendered | self._render_outcome()


@dataclass(eq=False, kw_only=True)
class Parallel(_Nesting):
    """Runs every branch on the same input; the output is the list of the branches' outputs.

    Example::

        Parallel("Notify everyone").branch(email_chain, webhook_chain)
    """

    _branches: list[State] = field(default_factory=list, init=False, repr=False)

    def branch(self, *chains: State | Chain) -> Parallel:
        """Add branches, run side by side in the order added."""
        self._branches.extend(start_of(chain) for chain in chains)
        return self

    def check(self) -> None:
        if not self._branches:
            raise DefinitionError(f"Parallel {self.name!r} needs at least one branch(...)")

    def nested_starts(self) -> tuple[State, ...]:
        return tuple(self._branches)

    def render(self, context: RenderContext) -> dict[str, Any]:
        rendered = self._head("Parallel")
        rendered["Branches"] = [context.render_graph(start) for start in self._branches]
        return rendered | self._render_outcome()
