"""Identities in an Amazon Cognito user pool, and verification of its JWTs.

Login, first-password and refresh go through the pool's app client (USER_PASSWORD_AUTH);
invitations through AdminCreateUser with a temporary password we email ourselves. Tokens are
verified here, in our code, so local runs and tests enforce exactly what production does.
"""
from __future__ import annotations

import logging
import secrets
import string
import threading
from dataclasses import dataclass
from typing import Any, Dict, Optional

from ..domain import error_codes as codes
from .aws import client

log = logging.getLogger("csp_portal.identity")


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str
    refresh_token: Optional[str]
    expires_in: int


@dataclass(frozen=True)
class NewPasswordRequired:
    session: str


@dataclass(frozen=True)
class MfaRequired:
    """The password was right; the user's TOTP code is asked next (`answer_mfa`, with this session)."""

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
        self._revoker = None

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
                cognito.exceptions.PasswordResetRequiredException, cognito.exceptions.UserNotConfirmedException,
                cognito.exceptions.InvalidParameterException) as exc:
            # Same answer for unknown user and wrong password: no account enumeration.
            raise codes.INVALID_CREDENTIALS() from exc
        except cognito.exceptions.ClientError as exc:
            if _throttled(exc):
                raise codes.TOO_MANY_REQUESTS() from exc
            raise
        if result.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
            return NewPasswordRequired(session=result["Session"])
        if result.get("ChallengeName") == "SOFTWARE_TOKEN_MFA":
            return MfaRequired(session=result["Session"])
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

    # --- two-step sign-in: Cognito's software token (TOTP) ------------------------------------
    def answer_mfa(self, email: str, session: str, code: str) -> Tokens:
        """The code of a login's SOFTWARE_TOKEN_MFA challenge."""
        cognito = self._cognito()
        try:
            result = cognito.respond_to_auth_challenge(
                ClientId=self._client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=session,
                ChallengeResponses={"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": code},
            )
        except (cognito.exceptions.CodeMismatchException, cognito.exceptions.EnableSoftwareTokenMFAException) \
                as exc:
            raise codes.MFA_CODE_MISMATCH() from exc
        except (cognito.exceptions.NotAuthorizedException, cognito.exceptions.UserNotFoundException,
                cognito.exceptions.ResourceNotFoundException, cognito.exceptions.InvalidParameterException,
                cognito.exceptions.ExpiredCodeException) as exc:
            raise codes.INVALID_MFA_SESSION() from exc
        except cognito.exceptions.ClientError as exc:
            if _throttled(exc):
                raise codes.TOO_MANY_REQUESTS() from exc
            raise
        return _tokens(result["AuthenticationResult"])

    def start_mfa_enrolment(self, access_token: str) -> str:
        """A new TOTP secret for the token's user (AssociateSoftwareToken): shown once, to be
        confirmed with a code by `confirm_mfa_enrolment`."""
        cognito = self._cognito()
        try:
            return cognito.associate_software_token(AccessToken=access_token)["SecretCode"]
        except cognito.exceptions.NotAuthorizedException as exc:
            raise codes.INVALID_TOKEN() from exc

    def confirm_mfa_enrolment(self, access_token: str, code: str) -> None:
        """The first code from the app (VerifySoftwareToken), then TOTP on and preferred: every later
        login of this user answers SOFTWARE_TOKEN_MFA."""
        cognito = self._cognito()
        try:
            verified = cognito.verify_software_token(AccessToken=access_token, UserCode=code,
                                                     FriendlyDeviceName="Portal")
        except (cognito.exceptions.CodeMismatchException, cognito.exceptions.EnableSoftwareTokenMFAException,
                cognito.exceptions.InvalidParameterException) as exc:
            raise codes.INVALID_MFA_CODE(field="code") from exc
        except cognito.exceptions.NotAuthorizedException as exc:
            raise codes.INVALID_TOKEN() from exc
        if verified.get("Status", "SUCCESS") != "SUCCESS":
            raise codes.INVALID_MFA_CODE(field="code")
        cognito.set_user_mfa_preference(AccessToken=access_token,
                                        SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})

    def reset_mfa(self, email: str) -> None:
        """TOTP off for this user (an operator's recovery): its next login asks no code. Its sessions
        end too (global sign-out: refresh tokens revoked, and Cognito refuses the old access tokens
        for its own calls, enrolment included), so only a new login with the password enrols again."""
        cognito = self._cognito()
        try:
            cognito.admin_set_user_mfa_preference(UserPoolId=self._pool, Username=email,
                                                  SoftwareTokenMfaSettings={"Enabled": False,
                                                                            "PreferredMfa": False})
            cognito.admin_user_global_sign_out(UserPoolId=self._pool, Username=email)
        except cognito.exceptions.UserNotFoundException:
            pass  # no identity left: nothing asks it a code

    def refresh(self, refresh_token: str) -> Tokens:
        cognito = self._cognito()
        try:
            result = cognito.initiate_auth(
                ClientId=self._client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        except (cognito.exceptions.NotAuthorizedException, cognito.exceptions.UserNotFoundException) as exc:
            raise codes.INVALID_REFRESH_TOKEN() from exc
        return _tokens(result["AuthenticationResult"], refresh_token=refresh_token)

    # --- ending sessions (the product also remembers them: services/sessions.py) ---------------

    def revoke(self, refresh_token: str) -> None:
        """RevokeToken: the refresh token, and the access tokens it issued, die at Cognito too.
        Best effort: the product refuses the session whether or not Cognito heard of it (the local
        Cognito does not implement RevokeToken)."""
        if self._revoker is None:
            import boto3
            from botocore.config import Config

            # Tried once: a failure is logged, not worth holding the user's "Sair" for retries.
            self._revoker = boto3.session.Session().client("cognito-idp", region_name=self._region,
                                                           config=Config(retries={"total_max_attempts": 1}))
        try:
            self._revoker.revoke_token(Token=refresh_token, ClientId=self._client_id)
        except Exception:  # noqa: BLE001 - logged; the product's own revocation is what is enforced
            log.warning("Cognito RevokeToken failed; the session is refused by the product", exc_info=True)

    def change_password(self, access_token: str, current_password: str, new_password: str) -> None:
        cognito = self._cognito()
        try:
            cognito.change_password(AccessToken=access_token, PreviousPassword=current_password,
                                    ProposedPassword=new_password)
        except cognito.exceptions.InvalidPasswordException as exc:
            raise codes.WEAK_PASSWORD(field="new_password") from exc
        except cognito.exceptions.NotAuthorizedException as exc:
            raise codes.WRONG_CURRENT_PASSWORD(field="current_password") from exc
        except cognito.exceptions.ClientError as exc:
            if _throttled(exc):
                raise codes.TOO_MANY_REQUESTS() from exc
            raise

    def sign_out_everywhere(self, email: str) -> None:
        """AdminUserGlobalSignOut: every refresh token of the user stops working at Cognito."""
        cognito = self._cognito()
        try:
            cognito.admin_user_global_sign_out(UserPoolId=self._pool, Username=email)
        except cognito.exceptions.UserNotFoundException:
            pass  # no identity, no session

    def display_name(self, email: str) -> Optional[str]:
        """The name of the identity signing in with this email, or None when there is none."""
        cognito = self._cognito()
        try:
            user = cognito.admin_get_user(UserPoolId=self._pool, Username=email)
        except (cognito.exceptions.UserNotFoundException, cognito.exceptions.InvalidParameterException):
            return None  # no identity, or an email Cognito would not take as a username: no one to tell
        attributes = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        return attributes.get("name") or email

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
