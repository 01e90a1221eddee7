"""Which check a route gets, by its described authorization: none, SigV4 (IAM) or a JWT."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from local.api_gateway.events import Request
from local.api_gateway.jwt_authorizer import UNAUTHORIZED, JwtAuthorizer
from local.api_gateway.refusal import AccessDeniedError
from local.api_gateway.sigv4 import SigV4Verifier
from local.credentials import LOCAL_SECRETS, LOCAL_USER_ID, local_user_arn
from stack.spec import App, Authorization, RouteSpec

if TYPE_CHECKING:
    from local.provisioning import Resources


@dataclass(frozen=True)
class Authorizers:
    """The API's authorizers; :meth:`authorize` runs the one a route names.

    Example::

        authorizers = local_authorizers(region="us-east-1", account_id="123456789012")
        context = authorizers.authorize(route, request, host="127.0.0.1:4567", now=time.time())
        # None for an open route, else the payload 2.0 requestContext.authorizer
    """

    iam: SigV4Verifier
    jwt: JwtAuthorizer | None = None

    def authorize(
        self, route: RouteSpec, request: Request, *, host: str, now: float
    ) -> dict[str, Any] | None:
        """The ``requestContext.authorizer`` for an allowed request (``None`` on an open
        route); raise :class:`~local.api_gateway.refusal.AccessDeniedError` otherwise."""
        if route.authorization is Authorization.NONE:
            return None
        if route.authorization is Authorization.IAM:
            return self.iam.verify(request, host=host, now=now)
        if self.jwt is None:
            # stack.checks refuses such a description; a hand-built gateway still fails closed.
            raise AccessDeniedError(401, UNAUTHORIZED, reason="the API has no JWT authorizer")
        return self.jwt.verify(request.headers, scopes=route.scopes, now=now)


def local_authorizers(
    *, region: str, account_id: str, jwt: JwtAuthorizer | None = None
) -> Authorizers:
    """IAM routes verified against the local credentials; JWT routes by ``jwt``."""
    iam = SigV4Verifier(
        region=region,
        secrets=LOCAL_SECRETS,
        account_id=account_id,
        user_arn=local_user_arn(account_id),
        user_id=LOCAL_USER_ID,
    )
    return Authorizers(iam=iam, jwt=jwt)


def stack_authorizers(app: App, resources: Resources, *, endpoint_url: str) -> Authorizers:
    """The authorizers of the stack's API: SigV4 against the local credentials, and its JWT
    authorizer for the stack's user pool, whose keys moto serves on ``endpoint_url``."""
    jwt_spec = app.api.jwt_authorizer if app.api is not None else None
    jwt = None
    # An identity provider outside the stack has no local stand-in: its routes fail closed.
    if jwt_spec is not None and jwt_spec.user_pool is not None and resources.user_pool:
        pool = resources.user_pool
        jwt = JwtAuthorizer.from_jwks_url(
            pool.issuer,
            audiences=(pool.client_id,),
            jwks_url=f"{endpoint_url}/{pool.id}/.well-known/jwks.json",
        )
    return local_authorizers(region=app.config.region, account_id=app.config.account_id, jwt=jwt)
