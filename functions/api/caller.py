"""Who is calling, as API Gateway's authorizer told the function (payload 2.0).

A JWT route's caller is the token's subject (``requestContext.authorizer.jwt.claims.sub``),
the owner of the data it reads and writes: never a field of the body or the path. An IAM
route's caller is the signing principal (``requestContext.authorizer.iam.userArn``). The local
front door fills in the same fields, so this reads the same thing on both backends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from functions.api.errors import ApiError


def _authorizer(event: Mapping[str, Any]) -> Mapping[str, Any]:
    context = event.get("requestContext") or {}
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    return authorizer if isinstance(authorizer, Mapping) else {}


def token_subject(event: Mapping[str, Any]) -> str:
    """The signed-in user's ``sub``; a 401 when the route let no token through (a route
    declared open by mistake must not serve anyone's data).

    >>> token_subject({"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "u-1"}}}}})
    'u-1'
    """
    jwt = _authorizer(event).get("jwt") or {}
    claims = jwt.get("claims") if isinstance(jwt, Mapping) else None
    subject = claims.get("sub") if isinstance(claims, Mapping) else None
    if not isinstance(subject, str) or not subject:
        raise ApiError(401, "this route needs a signed-in user (a JWT from the stack's pool)")
    return subject


def caller_identity(event: Mapping[str, Any]) -> str:
    """Whoever the authorizer vouched for: ``user:<sub>``, ``iam:<principal ARN>``, or
    ``anonymous`` on an open route; what scopes an ``Idempotency-Key`` to its caller.

    >>> caller_identity({"requestContext": {"authorizer": {"iam": {"userArn": "arn:x"}}}})
    'iam:arn:x'
    >>> caller_identity({"requestContext": {}})
    'anonymous'
    """
    authorizer = _authorizer(event)
    iam = authorizer.get("iam")
    if isinstance(iam, Mapping) and iam.get("userArn"):
        return f"iam:{iam['userArn']}"
    if "jwt" in authorizer:
        return f"user:{token_subject(event)}"
    return "anonymous"
