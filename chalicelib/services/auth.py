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
from . import mfa
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.identity import CognitoIdentity, TokenVerifier
    from ..storage.repositories import OrganizationRepository, UserRepository
    from ..storage.support import SignInChallenges
    from .mfa import MfaChallengeDeps, UnchallengedLoginDeps

    class SignInDeps(Protocol):
        """The identity provider's sign-in and token refresh."""

        identity: CognitoIdentity

    class LoginDeps(SignInDeps, MfaChallengeDeps, UnchallengedLoginDeps, Protocol):
        """A login; a first-password or TOTP challenge is remembered as the user's who logged in."""

        sign_in_challenges: SignInChallenges

    class FirstPasswordDeps(LoginDeps, Protocol):
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


def login(deps: LoginDeps, *, email: str, password: str) -> Dict[str, Any]:
    email = user_rules.normalize_email(email)
    result = deps.identity.login(email, password)
    if isinstance(result, NewPasswordRequired):
        deps.sign_in_challenges.bind(result.session, email, deps.clock() + CHALLENGE_BINDING_LIFETIME)
        return {"challenge": NEW_PASSWORD_REQUIRED, "session": result.session}
    if isinstance(result, MfaRequired):
        return mfa.challenge(deps, email, result.session)
    mfa.refuse_unchallenged(deps, result)
    return tokens_view(result)


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
    return tokens_view(tokens)


def refresh(deps: SignInDeps, *, refresh_token: str) -> Dict[str, Any]:
    return tokens_view(deps.identity.refresh(refresh_token))


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
    organization_id = user.organization_id
    if acting_organization_id and acting_organization_id != organization_id:
        # Only the reseller's operators act on behalf of a customer organisation.
        if user.organization_id != RESELLER_ORGANIZATION_ID or not can(user.roles, Capability.ACT_FOR_CUSTOMERS):
            raise codes.ORGANIZATION_NOT_FOUND()
        deps.organizations.get(acting_organization_id)  # 404 when it does not exist
        organization_id = acting_organization_id
    return Caller(user=user, organization_id=organization_id, source_ip=source_ip)

