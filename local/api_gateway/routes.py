"""API Gateway routes: path templates compiled, matched most specific first."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from stack.spec import RouteSpec

_PARAMETER = re.compile(r"^\{([A-Za-z0-9_.:-]+)(\+?)\}$")


@dataclass(frozen=True)
class Route:
    """One route, compiled: ``route_key`` is API Gateway's ``"POST /events/{trackingId}"``."""

    spec: RouteSpec
    route_key: str
    pattern: re.Pattern[str]
    parameters: tuple[str, ...]
    # Sorts most specific first, as API Gateway matches: literal segments beat variables,
    # variables beat a greedy ``{proxy+}``.
    priority: tuple[int, int, int]


def compile_route(spec: RouteSpec) -> Route:
    """Compile a path template (``/events/{trackingId}``, ``/files/{proxy+}``) into a matcher."""
    segments = [s for s in spec.path.split("/") if s != ""]
    if not spec.path.startswith("/"):
        raise ValueError(f"route path must start with '/': {spec.path!r}")
    parts: list[str] = []
    parameters: list[str] = []
    greedy = variables = 0
    for index, segment in enumerate(segments):
        found = _PARAMETER.match(segment)
        if found is None:
            if "{" in segment or "}" in segment:
                raise ValueError(f"route {spec.path!r}: a variable must be a whole segment")
            parts.append(re.escape(segment))
            continue
        name, plus = found.groups()
        parameters.append(name)
        if plus:
            if index != len(segments) - 1:
                raise ValueError(f"route {spec.path!r}: a greedy variable must come last")
            greedy += 1
            parts.append(f"(?P<p{len(parameters) - 1}>.+)")
        else:
            variables += 1
            parts.append(f"(?P<p{len(parameters) - 1}>[^/]+)")
    regex = "^/" + "/".join(parts) + ("/" if spec.path.endswith("/") and segments else "") + "$"
    return Route(
        spec=spec,
        route_key=spec.key,
        pattern=re.compile(regex),
        parameters=tuple(parameters),
        priority=(greedy, variables, -len(segments)),
    )


class RouteTable:
    """The API's routes; :meth:`match` finds the most specific one for a method and raw path."""

    def __init__(self, routes: Iterable[RouteSpec]) -> None:
        compiled = [compile_route(spec) for spec in routes]
        keys = [route.route_key for route in compiled]
        duplicates = sorted({key for key in keys if keys.count(key) > 1})
        if duplicates:
            raise ValueError(f"duplicate routes: {duplicates}")
        self._routes = sorted(compiled, key=lambda route: route.priority)

    def match(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self._routes:
            if route.route_key.split(" ", 1)[0] != method:
                continue
            found = route.pattern.match(raw_path)
            if found is None:
                continue
            values = {
                name: unquote(found.group(f"p{index}"))
                for index, name in enumerate(route.parameters)
            }
            return route, values
        return None
