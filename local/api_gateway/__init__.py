"""The API Gateway front door: an HTTP API's routes, served on loopback as AWS serves them.

:class:`ApiGateway` is a real HTTP server (:mod:`local.http_server`) for one
:class:`~stack.spec.ApiSpec`. Each route is a Lambda proxy integration with payload format 2.0:
the request becomes the event API Gateway builds (``version``, ``routeKey``, ``rawPath``,
``rawQueryString``, lower-cased comma-joined ``headers``, ``cookies``, ``queryStringParameters``,
``pathParameters``, ``requestContext``, ``body``, ``isBase64Encoded``), the route's function is
invoked through the given invoker (the runtime passes its :class:`~local.lambdas.LambdaPool`),
and the function's answer becomes the HTTP response by the same rules API Gateway applies.

What the client sees when something goes wrong is what API Gateway answers, status and body:

=====================================  ===  =======================================
no route for the method and path       404  ``{"message":"Not Found"}``
stage throttle (rate/burst) exceeded   429  ``{"message":"Too Many Requests"}``
function throttled                     429  ``{"message":"Too Many Requests"}``
body over 10 MB                        413  ``{"message":"Request Entity Too Large"}``
function error, crash, bad response    500  ``{"message":"Internal Server Error"}``
integration over 30 s                  503  ``{"message":"Service Unavailable"}``
malformed request (Content-Length..)   400  ``{"message":"Bad Request"}``
=====================================  ===  =======================================

Nothing goes to stdout: one JSON line per request (API Gateway's access-log fields) and every
internal error go to ``log_path``.

Example::

    gateway = ApiGateway(app.api, invoke, log_path=Path(".state/logs/api-gateway.log"))
    url = gateway.start()          # http://127.0.0.1:<free port>
    urllib.request.urlopen(url + "/health")
    gateway.stop()

The parts: :mod:`.routes` (matching), :mod:`.events` (the event a function gets),
:mod:`.answers` (the response a client gets), :mod:`.gateway` (throttle, integration, logs),
:mod:`.http_handler` (reading and writing HTTP).
"""

from __future__ import annotations

from local.api_gateway.answers import Response, error_response, proxy_response
from local.api_gateway.events import DEFAULT_ACCOUNT_ID, Request, build_event, default_api_id
from local.api_gateway.gateway import (
    INTEGRATION_TIMEOUT_SECONDS,
    MAX_PAYLOAD_BYTES,
    READ_TIMEOUT_SECONDS,
    ApiGateway,
    Invocation,
    Invoker,
)
from local.api_gateway.routes import Route, RouteTable, compile_route

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "INTEGRATION_TIMEOUT_SECONDS",
    "MAX_PAYLOAD_BYTES",
    "READ_TIMEOUT_SECONDS",
    "ApiGateway",
    "Invocation",
    "Invoker",
    "Request",
    "Response",
    "Route",
    "RouteTable",
    "build_event",
    "compile_route",
    "default_api_id",
    "error_response",
    "proxy_response",
]
