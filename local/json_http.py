"""One JSON request over HTTP, as the demo, the benches, the CLI and the tests talk to the API.

Requests are SigV4-signed (service ``execute-api``) with the local credentials unless told
otherwise, as a producer's SDK signs them on AWS; the local front door verifies them exactly
as API Gateway does. ``credentials=None`` (or ``signed=False``) sends an unsigned request, and
``bearer_token=`` sends a JWT in ``Authorization`` instead of a signature.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any, Final

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from local.credentials import LOCAL_ACCESS_KEY_ID, LOCAL_REGION, LOCAL_SECRET_ACCESS_KEY

LOCAL_CREDENTIALS: Final = Credentials(LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY)
SERVICE: Final = "execute-api"


def signed_headers(
    method: str,
    url: str,
    data: bytes | None,
    headers: dict[str, str],
    *,
    credentials: Credentials,
    region: str = LOCAL_REGION,
    service: str = SERVICE,
) -> dict[str, str]:
    """``headers`` plus the SigV4 ones (``Authorization``, ``X-Amz-Date``, a session token)
    that sign the request for ``service`` (API Gateway unless told).

    >>> sorted(signed_headers("GET", "http://127.0.0.1:4567/events/x", None, {},
    ...                       credentials=LOCAL_CREDENTIALS))
    ['Authorization', 'X-Amz-Date']
    """
    request = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
    SigV4Auth(credentials, service, region).add_auth(request)
    return dict(request.headers.items())


def request_json(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
    *,
    credentials: Credentials | None = LOCAL_CREDENTIALS,
    signed: bool = True,
    bearer_token: str | None = None,
    region: str = LOCAL_REGION,
    data: bytes | None = None,
) -> tuple[int, Any]:
    """Send ``body`` as JSON (or ``data`` as it is); answer the status code and the decoded
    JSON body (4xx/5xx too; a body that is not JSON comes back as text).

    >>> request_json("GET", "http://127.0.0.1:4567/health")  # doctest: +SKIP
    (200, {'status': 'ok'})
    >>> request_json("GET", f"{api}/users/me/enrichments", bearer_token=id_token)  # doctest: +SKIP
    (200, {'enrichments': [...]})
    """
    if data is None and body is not None:
        data = json.dumps(body).encode()
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    if bearer_token is not None:
        all_headers["Authorization"] = f"Bearer {bearer_token}"
    elif signed and credentials is not None:
        all_headers = signed_headers(
            method, url, data, all_headers, credentials=credentials, region=region
        )
    request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, _decoded(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _decoded(error.read())


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode("utf-8", "replace")
