"""The api Lambda answers exactly the routes the description sends it, and no other.

API Gateway forwards only the description's routes, and the app derives its 405 ``Allow`` header
from its own routes: if the two lists drifted, a documented route would answer 404 or a
forwarded one would never reach a handler.
"""

from __future__ import annotations

import re

from functions.api.app import allowed_methods, registered_routes
from stack.app import build_app

_POWERTOOLS_PARAMETER = re.compile(r"<([^>]+)>")


def description_routes() -> set[tuple[str, str]]:
    api = build_app().api
    assert api is not None
    routes = {(route.method.value, route.path) for route in api.routes if route.function == "api"}
    assert routes, "the description routes nothing to function api"
    return routes


def app_routes() -> set[tuple[str, str]]:
    # Powertools writes a path parameter as <name>, API Gateway as {name}.
    return {
        (method, _POWERTOOLS_PARAMETER.sub(r"{\1}", path)) for method, path in registered_routes()
    }


def test_the_app_serves_exactly_the_routes_of_function_api() -> None:
    assert app_routes() == description_routes()


def test_every_route_of_the_description_is_allowed_on_its_own_path() -> None:
    for method, path in description_routes():
        concrete = re.sub(r"{[^}]+}", "x-1", path)
        assert method in allowed_methods(concrete), (method, path)
