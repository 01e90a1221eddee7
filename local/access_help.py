"""What ``make up`` prints about access: how a system signs a request, how a person signs in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from local.credentials import DEMO_PASSWORD, LOCAL_ACCESS_KEY_ID, LOCAL_SECRET_ACCESS_KEY

if TYPE_CHECKING:
    from local.runtime import LocalStack


def access_instructions(stack: LocalStack) -> str:
    """Copy-pasteable commands for the running stack: a SigV4-signed call (curl ≥ 7.75) and a
    Cognito sign-in whose ID token calls a JWT route."""
    api, region = stack.api_url, stack.app.config.region
    credentials = f"{LOCAL_ACCESS_KEY_ID}:{LOCAL_SECRET_ACCESS_KEY}"
    lines = [
        "Systems sign with SigV4 (service execute-api, the local credentials):",
        f'  curl --aws-sigv4 "aws:amz:{region}:execute-api" --user {credentials} \\',
        f"       -X POST {api}/events -H 'Content-Type: application/json' -d @examples/event.json",
    ]
    pool = stack.resources.user_pool
    if pool is not None and pool.demo_username is not None:
        lines += [
            f"People sign in (user {pool.demo_username!r}, password {DEMO_PASSWORD!r}) and send "
            "the ID token:",
            f"  TOKEN=$(AWS_ACCESS_KEY_ID={LOCAL_ACCESS_KEY_ID} "
            f"AWS_SECRET_ACCESS_KEY={LOCAL_SECRET_ACCESS_KEY} aws --region {region} "
            f"--endpoint-url {stack.endpoint_url} cognito-idp initiate-auth \\",
            f"       --client-id {pool.client_id} --auth-flow USER_PASSWORD_AUTH "
            f"--auth-parameters USERNAME={pool.demo_username},PASSWORD={DEMO_PASSWORD} "
            "--query AuthenticationResult.IdToken --output text)",
            f'  curl -H "Authorization: Bearer $TOKEN" {api}/users/<sub of the token>/enrichments',
        ]
    return "\n".join(lines)
