"""Why a definition cannot be rendered: raised while building or rendering, never at run time."""

from __future__ import annotations


class DefinitionError(ValueError):
    """The graph or a state's settings would not make valid Amazon States Language."""


class DuplicateStateNameError(DefinitionError):
    """Two different states carry one name; ASL names states, so they would collide."""
