"""The one set of AWS credentials the local stack knows, and the principal they stand for.

Every local client (boto3 against the local endpoint, :func:`local.json_http.request_json`
against the local API) uses them, and the local front door verifies SigV4 signatures against
them, as API Gateway verifies a signature against the caller's IAM credentials.
"""

from __future__ import annotations

from typing import Final

LOCAL_ACCESS_KEY_ID: Final = "local"
LOCAL_SECRET_ACCESS_KEY: Final = "local"
LOCAL_REGION: Final = "us-east-1"
LOCAL_USER_ID: Final = "AIDALOCALSTEPFLOWUSER"

# Access key id -> secret access key: what the front door accepts a signature from.
LOCAL_SECRETS: Final = {LOCAL_ACCESS_KEY_ID: LOCAL_SECRET_ACCESS_KEY}


def local_user_arn(account_id: str) -> str:
    """The principal a request signed with the local credentials acts as (an IAM user).

    >>> local_user_arn("123456789012")
    'arn:aws:iam::123456789012:user/local'
    """
    return f"arn:aws:iam::{account_id}:user/local"


# The demo user's password in the local user pool (stack.spec.UserPoolSpec.demo_username); it
# meets the pool's password policy. Only the local runtime creates that user.
DEMO_PASSWORD: Final = "Local-demo-password-1"
