"""Identities in an Amazon Cognito user pool, and verification of its JWTs.

Login, first-password and refresh go through the pool's app client (USER_PASSWORD_AUTH);
invitations through AdminCreateUser with a temporary password we email ourselves. Tokens are
verified here, in our code, so local runs and tests enforce exactly what production does.
"""
from __future__ import annotations

import secrets
import string
import threading
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ..domain import error_codes as codes
from .aws import client


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str
    refresh_token: Optional[str]
    expires_in: int


@dataclass(frozen=True)
class NewPasswordRequired:
    session: str


def _tokens(result: Dict[str, Any], refresh_token: Optional[str] = None) -> Tokens:
    return Tokens(
        access_token=result["AccessToken"], id_token=result["IdToken"],
        refresh_token=result.get("RefreshToken", refresh_token), expires_in=int(result["ExpiresIn"]),
    )


def temporary_password(length: int = 16) -> str:
    """A password that satisfies Cognito's default policy: upper, lower, digit and symbol."""
    pools = [string.ascii_uppercase, string.ascii_lowercase, string.digits, "!#$%&*+-=?@"]
    chars = [secrets.choice(pool) for pool in pools]
    everything = "".join(pools)
    chars += [secrets.choice(everything) for _ in range(length - len(chars))]
    secrets.SystemRandom().shuffle(chars)
    return "".join(chars)


_THROTTLED = {"TooManyRequestsException", "LimitExceededException", "TooManyFailedAttemptsException"}


def _throttled(exc) -> bool:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") in _THROTTLED


class CognitoIdentity:
    def __init__(self, user_pool_id: str, client_id: str, region: str):
        self._pool = user_pool_id
        self._client_id = client_id
        self._region = region

    def _cognito(self):
        return client("cognito-idp", self._region)

    def _errors(self):
        return self._cognito().exceptions

    def login(self, email: str, password: str):
        cognito = self._cognito()
        try:
            result = cognito.initiate_auth(
                ClientId=self._client_id, AuthFlow="USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": email, "PASSWORD": password},
            )
        except (cognito.exceptions.NotAuthorizedException, cognito.exceptions.UserNotFoundException,
                cognito.exceptions.PasswordResetRequiredException,
                cognito.exceptions.UserNotConfirmedException) as exc:
            # Same answer for unknown user and wrong password: no account enumeration.
            raise codes.INVALID_CREDENTIALS() from exc
        except cognito.exceptions.ClientError as exc:
            if _throttled(exc):
                raise codes.TOO_MANY_REQUESTS() from exc
            raise
        if result.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            return NewPasswordRequired(session=result["Session"])
        return _tokens(result["AuthenticationResult"])

    def complete_new_password(self, email: str, session: str, new_password: str) -> Tokens:
        cognito = self._cognito()
        try:
            result = cognito.respond_to_auth_challenge(
                ClientId=self._client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=session,
                ChallengeResponses={"USERNAME": email, "NEW_PASSWORD": new_password},
            )
        except cognito.exceptions.InvalidPasswordException as exc:
            raise codes.WEAK_PASSWORD(field="new_password") from exc
        except (cognito.exceptions.NotAuthorizedException, cognito.exceptions.CodeMismatchException,
                cognito.exceptions.UserNotFoundException, cognito.exceptions.ResourceNotFoundException,
                cognito.exceptions.InvalidParameterException, cognito.exceptions.ExpiredCodeException) as exc:
            raise codes.INVALID_SESSION() from exc
        except cognito.exceptions.ClientError as exc:
            if _throttled(exc):
                raise codes.TOO_MANY_REQUESTS() from exc
            raise
        return _tokens(result["AuthenticationResult"])

    def refresh(self, refresh_token: str) -> Tokens:
        cognito = self._cognito()
        try:
            result = cognito.initiate_auth(
                ClientId=self._client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        except cognito.exceptions.NotAuthorizedException as exc:
            raise codes.INVALID_REFRESH_TOKEN() from exc
        return _tokens(result["AuthenticationResult"], refresh_token=refresh_token)

    def create_user(self, email: str, name: str, password: str) -> str:
        """Create an invited identity; returns its `sub`, our user id. We send the email ourselves."""
        cognito = self._cognito()
        try:
            result = cognito.admin_create_user(
                UserPoolId=self._pool, Username=email, TemporaryPassword=password,
                MessageAction="SUPPRESS",
                UserAttributes=[
                    {"Name": "email", "Value": email},
                    {"Name": "email_verified", "Value": "true"},
                    {"Name": "name", "Value": name},
                ],
            )
        except cognito.exceptions.UsernameExistsException as exc:
            raise codes.EMAIL_IN_USE(field="email") from exc
        except cognito.exceptions.InvalidParameterException as exc:
            # Cognito's own rules on usernames and attributes (an email with a comma, say) are
            # stricter than ours: its refusal is the caller's input, a 400, not a server error.
            raise codes.IDENTITY_REJECTED(field="email") from exc
        attributes = {a["Name"]: a["Value"] for a in result["User"]["Attributes"]}
        return attributes["sub"]

    def set_enabled(self, email: str, enabled: bool) -> None:
        cognito = self._cognito()
        operation = cognito.admin_enable_user if enabled else cognito.admin_disable_user
        try:
            operation(UserPoolId=self._pool, Username=email)
        except cognito.exceptions.UserNotFoundException:
            pass

    def delete_user(self, email: str) -> None:
        cognito = self._cognito()
        try:
            cognito.admin_delete_user(UserPoolId=self._pool, Username=email)
        except cognito.exceptions.UserNotFoundException:
            pass  # already gone: deleting is repeat-safe


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    claims: Dict[str, Any]


class TokenVerifier:
    """Verifies a Cognito access token: RS256 signature (pool JWKS), expiry, issuer, client, use."""

    def __init__(self, jwks_url: str, issuer: str, client_id: str, leeway_seconds: int = 0):
        self._jwks_url = jwks_url
        self._issuer = issuer
        self._client_id = client_id
        self._leeway = leeway_seconds
        self._jwks_client = None
        self._lock = threading.Lock()

    def _signing_key(self, token: str):
        import jwt  # PyJWT; loaded on first use to keep cold start small

        with self._lock:
            if self._jwks_client is None:
                # Keys are cached in the client (Lambda container lifetime); refetched on an unknown kid.
                self._jwks_client = jwt.PyJWKClient(self._jwks_url, cache_keys=True, lifespan=3600)
        return self._jwks_client.get_signing_key_from_jwt(token).key

    def verify(self, token: str) -> VerifiedToken:
        import jwt

        invalid = codes.INVALID_TOKEN()
        try:
            key = self._signing_key(token)
            claims = jwt.decode(
                token, key, algorithms=["RS256"], issuer=self._issuer, leeway=self._leeway,
                options={"require": ["exp", "iss", "sub", "token_use", "client_id"], "verify_aud": False},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise invalid from exc
        # Access tokens carry client_id rather than aud.
        if claims.get("token_use") != "access" or claims.get("client_id") != self._client_id:
            raise invalid
        return VerifiedToken(subject=claims["sub"], claims=claims)
