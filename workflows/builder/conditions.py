"""Choice rules: the ASL comparison operators as typed values."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from workflows.builder.exceptions import DefinitionError
from workflows.builder.paths import check_path


class Condition(ABC):
    """A test a ``Choice`` applies to its input; build one with the static helpers.

    Example::

        Condition.and_(
            Condition.is_present("$.trackingId"),
            Condition.numeric_greater_than("$.counts.valid", 0),
        )
    """

    @abstractmethod
    def render(self) -> dict[str, Any]:
        """The rule's ASL object, without ``Next``."""

    @staticmethod
    def string_equals(variable: str, value: str) -> Condition:
        """``variable`` holds exactly the string ``value``."""
        return _Comparison(variable, "StringEquals", value)

    @staticmethod
    def numeric_equals(variable: str, value: int | float) -> Condition:
        return _Comparison(variable, "NumericEquals", _number(value))

    @staticmethod
    def numeric_greater_than(variable: str, value: int | float) -> Condition:
        return _Comparison(variable, "NumericGreaterThan", _number(value))

    @staticmethod
    def numeric_greater_than_equals(variable: str, value: int | float) -> Condition:
        return _Comparison(variable, "NumericGreaterThanEquals", _number(value))

    @staticmethod
    def numeric_less_than(variable: str, value: int | float) -> Condition:
        return _Comparison(variable, "NumericLessThan", _number(value))

    @staticmethod
    def boolean_equals(variable: str, value: bool) -> Condition:
        return _Comparison(variable, "BooleanEquals", value)

    @staticmethod
    def is_present(variable: str, present: bool = True) -> Condition:
        """``variable`` exists in the input (``present=False``: it does not)."""
        return _Comparison(variable, "IsPresent", present)

    @staticmethod
    def is_null(variable: str, null: bool = True) -> Condition:
        return _Comparison(variable, "IsNull", null)

    @staticmethod
    def and_(*conditions: Condition) -> Condition:
        """Every one of ``conditions`` holds."""
        return _Combination("And", _at_least_one("And", conditions))

    @staticmethod
    def or_(*conditions: Condition) -> Condition:
        """At least one of ``conditions`` holds."""
        return _Combination("Or", _at_least_one("Or", conditions))

    @staticmethod
    def not_(condition: Condition) -> Condition:
        return _Negation(condition)


def _number(value: int | float) -> int | float:
    # bool is an int to Python but not a number to ASL.
    if isinstance(value, bool):
        raise DefinitionError("numeric comparisons take numbers, not booleans")
    return value


def _at_least_one(operator: str, conditions: tuple[Condition, ...]) -> tuple[Condition, ...]:
    if not conditions:
        raise DefinitionError(f"{operator} needs at least one condition")
    return conditions


@dataclass(frozen=True)
class _Comparison(Condition):
    variable: str
    operator: str
    value: str | int | float | bool

    def __post_init__(self) -> None:
        check_path("Variable", self.variable)

    def render(self) -> dict[str, Any]:
        return {"Variable": self.variable, self.operator: self.value}


@dataclass(frozen=True)
class _Combination(Condition):
    operator: str
    conditions: tuple[Condition, ...]

    def render(self) -> dict[str, Any]:
        return {self.operator: [condition.render() for condition in self.conditions]}


@dataclass(frozen=True)
class _Negation(Condition):
    condition: Condition

    def render(self) -> dict[str, Any]:
        return {"Not": self.condition.render()}
