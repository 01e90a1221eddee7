"""JWT authorization of a route, checked as an HTTP API's JWT authorizer checks it.

API Gateway takes the token from the identity source (``Authorization``, an optional
``Bearer `` prefix dropped), verifies its RS256 signature against the issuer's JWKS, then
checks ``iss``, the audience (``aud``; ``client_id`` only when there is no ``aud``, as Cognito
access tokens have), ``exp`` and ``nbf``, and the route's scopes. A missing or invalid token
gets 401 ``{"message":"Unauthorized"}`` with a ``www-authenticate: Bearer scope=""
error="invalid_token" error_description="..."`` header; a valid token without the route's scope
gets 403 ``{"message":"Forbidden"}`` with ``error="insufficient_scope"`` (API Gateway developer
guide, "Troubleshooting issues with HTTP API JWT authorizers").

A valid token's claims reach the function as payload 2.0's
``requestContext.authorizer.jwt = {"claims": {...}, "scopes": [...] or None}``, every claim as
a string as API Gateway sends it (numbers in decimal, lists as ``[a b]``).

Example::

    authorizer = JwtAuthorizer(issuer, audiences=(client_id,), jwks=pool_jwks)
    context = authorizer.verify(request.headers, scopes=(), now=time.time())
    context["jwt"]["claims"]["sub"]
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Final

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from local.api_gateway.refusal import AccessDeniedError, single_header

ALGORITHMS: Final = ("RS256",)
UNAUTHORIZED: Final = "Unauthorized"
FORBIDDEN: Final = "Forbidden"


def _invalid(description: str) -> AccessDeniedError:
    header = f'Bearer scope="" error="invalid_token" error_description="{description}"'
    return AccessDeniedError(
        401, UNAUTHORIZED, reason=description, headers=[("www-authenticate", header)]
    )


class JwtAuthorizer:
    """One HTTP API JWT authorizer: an issuer, the audiences it accepts, the issuer's JWKS."""

    def __init__(self, issuer: str, *, audiences: Sequence[str], jwks: Mapping[str, Any]) -> None:
        self.issuer = issuer
        self.audiences = frozenset(audiences)
        self._keys = KeySet.import_key_set(dict(jwks))  # type: ignore[arg-type]

    @classmethod
    def from_jwks_url(
        cls, issuer: str, *, audiences: Sequence[str], jwks_url: str
    ) -> JwtAuthorizer:
        """An authorizer for ``issuer`` with the keys served at ``jwks_url`` (API Gateway reads
        ``<issuer>/.well-known/jwks.json``; locally the pool's keys are on the AWS endpoint)."""
        with urllib.request.urlopen(jwks_url, timeout=30) as answer:
            jwks = json.loads(answer.read())
        return cls(issuer, audiences=audiences, jwks=jwks)

    def verify(
        self, headers: Sequence[tuple[str, str]], *, scopes: Sequence[str], now: float
    ) -> dict[str, Any]:
        """The ``requestContext.authorizer`` of a request whose token is valid for a route
        naming ``scopes`` (none: any valid token); raise :class:`AccessDeniedError` otherwise."""
        value = (single_header(headers, "authorization") or "").strip()
        token = value[7:].strip() if value[:7].lower() == "bearer " else value
        if not token:
            raise _invalid("no token in the identity source")
        try:
            decoded = jwt.decode(token, self._keys, algorithms=list(ALGORITHMS))
        except (JoseError, ValueError) as error:
            raise _invalid(f"signing method or signature invalid: {error}") from None
        claims = dict(decoded.claims)
        self._check_claims(claims, now)
        granted = str(claims.get("scope", "")).split()
        if scopes and not set(scopes) & set(granted):
            expected = " ".join(scopes)
            header = (
                f'Bearer scope="{expected}" error="insufficient_scope" '
                f'error_description="expected scopes: [{expected}]"'
            )
            raise AccessDeniedError(
                403, FORBIDDEN, reason="insufficient scope", headers=[("www-authenticate", header)]
            )
        return {
            "jwt": {
                "claims": {name: _as_string(claim) for name, claim in claims.items()},
                "scopes": granted or None,
            }
        }

    def _check_claims(self, claims: Mapping[str, Any], now: float) -> None:
        if claims.get("iss") != self.issuer:
            raise _invalid("the token has an invalid issuer")
        audience = claims.get("aud", claims.get("client_id"))
        named = set(audience) if isinstance(audience, list) else {audience}
        if not named & self.audiences:
            raise _invalid("the token does not have a valid audience")
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or expires <= now:
            raise _invalid("the token has expired")
        not_before = claims.get("nbf")
        if not_before is not None and (not isinstance(not_before, int | float) or not_before > now):
            raise _invalid("the token is not valid yet")


def _as_string(claim: Any) -> str:
    if isinstance(claim, str):
        return claim
    if isinstance(claim, bool):
        return "true" if claim else "false"
    if isinstance(claim, list):
        return "[" + " ".join(_as_string(item) for item in claim) + "]"
    return str(claim)
