"""Seed 002's login: Cognito's own sign-in (``InitiateAuth``, ``USER_PASSWORD_AUTH``).

Example::

    tokens = sign_in(stack.client("cognito-idp"), client_id, "demo", DEMO_PASSWORD)
    request_json("GET", f"{api}/users/{tokens.subject}/enrichments", bearer_token=tokens.id_token)
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.credentials import DEMO_PASSWORD

if TYPE_CHECKING:
    from local.runtime import LocalStack


@dataclass(frozen=True)
class Tokens:
    """What a sign-in answers; ``subject`` is the user's ``sub``, the owner of their data."""

    id_token: str
    access_token: str
    subject: str


def sign_in(cognito: Any, client_id: str, username: str, password: str) -> Tokens:
    """Sign ``username`` in on the app client; raises botocore's ``NotAuthorizedException`` on
    a wrong password, as Cognito does."""
    answer = cognito.initiate_auth(
        ClientId=client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )["AuthenticationResult"]
    return Tokens(
        id_token=answer["IdToken"],
        access_token=answer["AccessToken"],
        subject=str(unverified_claims(answer["IdToken"])["sub"]),
    )


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's claims, read without checking anything (the API Gateway checks them)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def sign_in_demo_user(stack: LocalStack) -> Tokens:
    """Sign the local stack's demo user in (``UserPoolSpec.demo_username``)."""
    pool = stack.resources.user_pool
    if pool is None or pool.demo_username is None:
        raise RuntimeError("the local stack has no user pool with a demo user")
    return sign_in(stack.client("cognito-idp"), pool.client_id, pool.demo_username, DEMO_PASSWORD)
