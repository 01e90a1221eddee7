"""What both backends make a user pool with, so a pool behaves the same on AWS and locally.

Plain Python: the Pulumi components (``infra/cognito.py``) and the local provisioning read the
same settings, and both derive the JWT authorizer's issuer from the pool id the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

# Sign-in with a username and password on the app client (seed 002's login), and refresh.
EXPLICIT_AUTH_FLOWS: Final = ("ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH")


@dataclass(frozen=True)
class PasswordPolicy:
    minimum_length: int = 12
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_numbers: bool = True
    require_symbols: bool = False

    def as_cognito(self) -> dict[str, int | bool]:
        """The ``PasswordPolicy`` of Cognito's ``CreateUserPool``.

        >>> PasswordPolicy().as_cognito()["MinimumLength"]
        12
        """
        return {
            "MinimumLength": self.minimum_length,
            "RequireUppercase": self.require_uppercase,
            "RequireLowercase": self.require_lowercase,
            "RequireNumbers": self.require_numbers,
            "RequireSymbols": self.require_symbols,
        }


PASSWORD_POLICY: Final = PasswordPolicy()


def user_pool_issuer(region: str, user_pool_id: str) -> str:
    """The ``iss`` of the pool's tokens, which an HTTP API JWT authorizer is configured with.

    >>> user_pool_issuer("us-east-1", "us-east-1_AbCdEf")
    'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbCdEf'
    """
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"
