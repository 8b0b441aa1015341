"""Two-step sign-in (TOTP): which profiles must have it, and what a user without it may reach.

The product enforces it, not the user pool: the pool keeps MFA optional (a profile that does not
need it may still turn it on), and every request of a user whose profiles need it, and who has not
enrolled, stops at the enrolment routes (`api/http.py`).
"""
from __future__ import annotations

from typing import Iterable

from .roles import Role
from .users import User

# The reseller's operators act for every customer; a Master answers for the contract and its users.
MFA_REQUIRED_ROLES = frozenset({Role.OPERATOR, Role.MASTER})

# What an authenticator app shows as the account's issuer.
ISSUER = "Brasoftware Cloud"


def required_for(roles: Iterable[Role]) -> bool:
    """Whether a user with these profiles must sign in with a code: any profile that needs it counts."""
    return any(role in MFA_REQUIRED_ROLES for role in roles)


def enrolment_pending(user: User) -> bool:
    """A user who must use MFA and has not enrolled yet: only enrolment (and /me) is open to it."""
    return required_for(user.roles) and not user.mfa_enrolled


def otpauth_uri(secret: str, email: str, issuer: str = ISSUER) -> str:
    """The `otpauth://` link an authenticator app reads (Key Uri Format: issuer prefix and parameter)."""
    from urllib.parse import quote, urlencode

    label = quote(f"{issuer}:{email}", safe="@:")
    return f"otpauth://totp/{label}?" + urlencode({"secret": secret, "issuer": issuer, "algorithm": "SHA1",
                                                   "digits": 6, "period": 30}, quote_via=quote)


def is_code(value: str) -> bool:
    """Six digits, as every authenticator app shows them."""
    return len(value) == 6 and value.isascii() and value.isdigit()
