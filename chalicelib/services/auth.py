"""Sign-in through the identity provider, and turning a verified token into a Caller."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol

from ..adapters.identity import MfaRequired, NewPasswordRequired, Tokens
from ..domain import error_codes as codes
from ..domain import users as user_rules
from ..domain.roles import Capability, can
from ..domain.users import RESELLER_ORGANIZATION_ID
from ..schemas import enum, integer, shape, text
from . import mfa, sessions
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.identity import CognitoIdentity, TokenVerifier
    from ..storage.repositories import OrganizationRepository, UserRepository
    from ..storage.support import SignInChallenges
    from .mfa import MfaChallengeDeps, UnchallengedLoginDeps

    class SignInDeps(Protocol):
        """The identity provider's sign-in and token refresh."""

        identity: CognitoIdentity

    class ChallengeDeps(SignInDeps, sessions.SessionStartDeps, Protocol):
        """A first-password challenge remembered as the user's who logged in; a session handed out
        remembered by its refresh token."""

        sign_in_challenges: SignInChallenges

    class LoginDeps(ChallengeDeps, sessions.ThrottleDeps, MfaChallengeDeps, UnchallengedLoginDeps, Protocol):
        """A login, throttled per email and source IP; a first-password or TOTP challenge is
        remembered as the user's who logged in."""

    class MfaLoginDeps(ChallengeDeps, sessions.ThrottleDeps, MfaChallengeDeps, Protocol):
        """The login's code, throttled like its password; the session handed out remembered."""

    class FirstPasswordDeps(ChallengeDeps, Protocol):
        """The first password, for the user the challenge was issued to, after which it is active."""

        verifier: TokenVerifier
        users: UserRepository

    class AuthenticationDeps(Protocol):
        """A bearer token verified, its user still there, the organisation it acts for."""

        verifier: TokenVerifier
        users: UserRepository
        organizations: OrganizationRepository


NEW_PASSWORD_REQUIRED = "NEW_PASSWORD_REQUIRED"
# Cognito's challenge session lives 3 to 15 minutes (the app client's setting): the binding outlives it.
CHALLENGE_BINDING_LIFETIME = timedelta(minutes=15)

# Login, the first password and a refresh all answer this. A refresh answers the refresh token it
# was given (Cognito does not rotate it: `identity.refresh`), so the client keeps one either way.
TOKENS = shape("Tokens", description="Os tokens da sessão (Bearer `access_token`; `expires_in` em segundos).",
               access_token=text(), id_token=text(), refresh_token=text(), expires_in=integer(minimum=0),
               token_type=enum(["Bearer"]))

NEW_PASSWORD_CHALLENGE = shape(
    "NewPasswordChallenge", description="Primeiro acesso: defina a senha em `POST /auth/new-password` com esta "
                                        "`session`.",
    challenge=enum([NEW_PASSWORD_REQUIRED]), session=text())


def tokens_view(tokens: Tokens) -> Dict[str, Any]:
    return {"access_token": tokens.access_token, "id_token": tokens.id_token,
            "refresh_token": tokens.refresh_token, "expires_in": tokens.expires_in, "token_type": "Bearer"}


def login(deps: LoginDeps, *, email: str, password: str, source_ip: Optional[str] = None) -> Dict[str, Any]:
    email = user_rules.normalize_email(email)
    # Refused before Cognito while the email or the source IP is throttled; a wrong password counted.
    result = sessions.throttled(deps, email=email, source_ip=source_ip, wrong_code=codes.INVALID_CREDENTIALS.code,
                                attempt=lambda: deps.identity.login(email, password), forget=False)
    if isinstance(result, NewPasswordRequired):
        sessions.forget_failures(deps, email=email)
        deps.sign_in_challenges.bind(result.session, email, deps.clock() + CHALLENGE_BINDING_LIFETIME)
        return {"challenge": NEW_PASSWORD_REQUIRED, "session": result.session}
    if isinstance(result, MfaRequired):
        # The password was right, but the login is not done: the email's failures are forgotten only
        # when the code is (a password known to an attacker must not reset the count of wrong codes).
        return mfa.challenge(deps, email, result.session)
    mfa.refuse_unchallenged(deps, result)
    sessions.forget_failures(deps, email=email)
    return tokens_view(sessions.start(deps, result))


def answer_mfa(deps: MfaLoginDeps, *, email: str, session: str, code: str, source_ip: Optional[str] = None
               ) -> Dict[str, Any]:
    """The login's second step: a wrong code counts as a failed login of the email and the source
    IP (the same waits and lock as a wrong password, so six digits cannot be guessed)."""
    email = user_rules.normalize_email(email)
    tokens = sessions.throttled(deps, email=email, source_ip=source_ip, wrong_code=codes.MFA_CODE_MISMATCH.code,
                                attempt=lambda: mfa.answer_challenge(deps, email=email, session=session, code=code))
    return tokens_view(sessions.start(deps, tokens))


def set_first_password(deps: FirstPasswordDeps, *, email: str, session: str, new_password: str) -> Dict[str, Any]:
    """The first password of the user whose login started `session`, and no one else's: a session
    answered with another email is refused before the identity provider hears of it (the local
    Cognito would let it set that user's password and hand over its tokens)."""
    email = user_rules.normalize_email(email)
    if deps.sign_in_challenges.email_for(session, deps.clock(), challenge=NEW_PASSWORD_REQUIRED) != email:
        raise codes.INVALID_SESSION()
    tokens = deps.identity.complete_new_password(email, session, new_password)
    deps.sign_in_challenges.forget(session)
    user = deps.users.get(deps.verifier.verify(tokens.access_token).subject)
    if user is not None:
        deps.users.activate(user)
    return tokens_view(sessions.start(deps, tokens))


def refresh(deps: sessions.RefreshDeps, *, refresh_token: str) -> Dict[str, Any]:
    """New tokens for a session the product handed out and has not seen end (`sessions.refresh`)."""
    return tokens_view(sessions.refresh(deps, refresh_token=refresh_token))


def authenticate(deps: AuthenticationDeps, *, access_token: Optional[str], acting_organization_id: Optional[str],
                 source_ip: Optional[str]) -> Caller:
    """A Caller from a bearer token: verified, and still a user of the portal."""
    if not access_token:
        raise codes.MISSING_TOKEN()
    verified = deps.verifier.verify(access_token)
    user = deps.users.get(verified.subject)
    if user is None:
        # A valid token of a removed user opens nothing.
        raise codes.UNKNOWN_USER()
    # Logged out, or ended by a password change: checked on the user item just read, no extra call.
    sessions.ensure_open(user, verified.claims)
    organization_id = user.organization_id
    if acting_organization_id and acting_organization_id != organization_id:
        # Only the reseller's operators act on behalf of a customer organisation.
        if user.organization_id != RESELLER_ORGANIZATION_ID or not can(user.roles, Capability.ACT_FOR_CUSTOMERS):
            raise codes.ORGANIZATION_NOT_FOUND()
        deps.organizations.get(acting_organization_id)  # 404 when it does not exist
        organization_id = acting_organization_id
    return Caller(user=user, organization_id=organization_id, source_ip=source_ip)

