"""One JSON request over HTTP, as the demo and the tests talk to the local API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


def request_json(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> tuple[int, Any]:
    """Send ``body`` as JSON; answer the status code and the decoded JSON body (4xx/5xx too).

    >>> request_json("GET", "http://127.0.0.1:4567/health")  # doctest: +SKIP
    (200, {'status': 'ok'})
    """
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
