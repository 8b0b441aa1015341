"""Two-step sign-in (TOTP through Cognito's software token): enrolment, the login's code, and an
operator's reset. Which profiles need it is `domain/mfa.py`; `api/http.py` stops a user who needs
it and has not enrolled at the enrolment routes."""
from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol

from ..domain import error_codes as codes
from ..domain import mfa as mfa_rules
from ..domain import users as user_rules
from ..domain.clock import iso
from ..domain.users import User
from ..schemas import boolean, date_time, enum, nullable, shape, text
from . import audit, notifications
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.identity import CognitoIdentity, Tokens, TokenVerifier
    from ..settings import Settings
    from ..storage.repositories import UserRepository
    from ..storage.support import SignInChallenges
    from .audit import Clocked
    from .notifications import QueuesEmails

    class UnchallengedLoginDeps(Protocol):
        """Whose tokens a login answered, to refuse an enrolled user's that came without a code."""

        verifier: TokenVerifier
        users: UserRepository

    class MfaChallengeDeps(Clocked, Protocol):
        """The login's second step: the session's owner, then the identity provider."""

        identity: CognitoIdentity
        sign_in_challenges: SignInChallenges

    class EnrolmentDeps(Clocked, Protocol):
        """The caller's own authenticator: the secret from the identity provider, then the first code,
        recorded (and audited) on the user."""

        identity: CognitoIdentity
        users: UserRepository

    class MfaResetDeps(EnrolmentDeps, QueuesEmails, Protocol):
        """An operator's recovery: TOTP off at the identity provider, the record, the user told."""

        settings: Settings


SOFTWARE_TOKEN_MFA = "SOFTWARE_TOKEN_MFA"
# As for the first password (services/auth.py): Cognito's session lives at most 15 minutes.
CHALLENGE_BINDING_LIFETIME = timedelta(minutes=15)

MFA_CHALLENGE = shape(
    "MfaChallenge", description="Verificação em duas etapas: envie o código do aplicativo autenticador em "
                                "`POST /auth/mfa` com esta `session`.",
    challenge=enum([SOFTWARE_TOKEN_MFA]), session=text())

MFA_SETUP = shape(
    "MfaSetup", description="O segredo do aplicativo autenticador (mostrado uma vez): digite `secret` no aplicativo "
                            "ou abra `otpauth_uri`; confirme com o primeiro código em `POST /auth/mfa/verify`.",
    secret=text(), otpauth_uri=text())

MFA_STATUS = shape("MfaStatus", description="A verificação em duas etapas do usuário: se o perfil a exige e desde "
                                            "quando está ativa (nulo: não cadastrada).",
                   required=boolean(), enrolled_at=nullable(date_time()))


def status_view(user: User) -> Dict[str, Any]:
    return {"required": mfa_rules.required_for(user.roles), "enrolled_at": user.mfa_enrolled_at}


def challenge(deps: MfaChallengeDeps, email: str, session: str) -> Dict[str, Any]:
    """A login that asks for the code: the session is kept as this email's, for this challenge only."""
    deps.sign_in_challenges.bind(session, email, deps.clock() + CHALLENGE_BINDING_LIFETIME,
                                 challenge=SOFTWARE_TOKEN_MFA)
    return {"challenge": SOFTWARE_TOKEN_MFA, "session": session}


def refuse_unchallenged(deps: UnchallengedLoginDeps, tokens: Tokens) -> None:
    """An enrolled user's login always goes through the code: tokens the pool answered without one
    (its MFA turned off outside the portal, or an emulator that skips it) are not handed over."""
    user = deps.users.get(deps.verifier.verify(tokens.access_token).subject)
    if user is not None and user.mfa_enrolled:
        raise codes.MFA_NOT_IN_FORCE()


def answer_challenge(deps: MfaChallengeDeps, *, email: str, session: str, code: str) -> Tokens:
    """The code for the login that started `session`, and for no one else's: a session sent with
    another email (or one issued for the first password) is refused before the identity provider
    hears of it. A wrong code is a 401 and changes nothing: the session may be answered again."""
    email = user_rules.normalize_email(email)
    if deps.sign_in_challenges.email_for(session, deps.clock(), challenge=SOFTWARE_TOKEN_MFA) != email:
        raise codes.INVALID_MFA_SESSION()
    if not mfa_rules.is_code(code):
        raise codes.MFA_CODE_MISMATCH()
    tokens = deps.identity.answer_mfa(email, session, code)
    deps.sign_in_challenges.forget(session)
    return tokens


def start_enrolment(deps: EnrolmentDeps, caller: Caller, access_token: str) -> Dict[str, Any]:
    """A new secret for the caller's authenticator app. Once enrolled, a new device goes through an
    operator's reset: a stolen session cannot swap the authenticator."""
    if caller.user.mfa_enrolled:
        raise codes.MFA_ALREADY_ENROLLED()
    secret = deps.identity.start_mfa_enrolment(access_token)
    return {"secret": secret, "otpauth_uri": mfa_rules.otpauth_uri(secret, caller.user.email)}


def confirm_enrolment(deps: EnrolmentDeps, caller: Caller, access_token: str, code: str) -> User:
    """The first code from the app: TOTP on at the identity provider, then on the user (audited)."""
    user = caller.user
    if user.mfa_enrolled:
        raise codes.MFA_ALREADY_ENROLLED()
    if not mfa_rules.is_code(code):
        raise codes.INVALID_MFA_CODE(field="code")
    deps.identity.confirm_mfa_enrolment(access_token, code)
    enrolled = User(**{**user.__dict__, "mfa_enrolled_at": iso(deps.clock()), "version": user.version + 1})
    deps.users.save_mfa(enrolled, expected_version=user.version, audit=audit.entry(
        deps, caller.actor, user.organization_id, "user.mfa_enrolled", f"user:{user.id}",
        before={"mfa_enrolled_at": None}, after={"mfa_enrolled_at": enrolled.mfa_enrolled_at}))
    return enrolled


def reset(deps: MfaResetDeps, caller: Caller, user_id: str, *, expected_version: Optional[int] = None) -> User:
    """An operator turns a user's TOTP off (a lost phone): the user enrols again at its next login
    (its profile requires it) and is told by email. Audited in the user's organisation's trail.

    The identity provider goes first: should the record fail, the user still has no code to give,
    and its login is refused (`refuse_unchallenged`) until the reset is run again."""
    user = deps.users.get(user_id)
    if user is None:
        raise codes.USER_NOT_FOUND()
    if user.id == caller.user.id:
        raise codes.MFA_RESET_OF_SELF()
    if expected_version is not None and expected_version != user.version:
        raise codes.VERSION_CONFLICT()
    if not user.mfa_enrolled:
        raise codes.MFA_NOT_ENROLLED()
    deps.identity.reset_mfa(user.email)
    # Its sessions end too: a stolen session must not outlive the phone it was stolen with.
    reset_user = User(**{**user.__dict__, "mfa_enrolled_at": None, "version": user.version + 1,
                         "sessions_valid_after": iso(deps.clock())})
    deps.users.save_mfa(reset_user, expected_version=user.version, audit=audit.entry(
        deps, caller.actor, user.organization_id, "user.mfa_reset", f"user:{user.id}",
        before={"mfa_enrolled_at": user.mfa_enrolled_at}, after={"mfa_enrolled_at": None}))
    notifications.queue_email(
        deps, template="mfa_reset", to=[user.email], delivery_key=f"mfa_reset#{user.id}#{reset_user.version}",
        organization_id=user.organization_id,
        context={"user": {"name": user.name, "email": user.email}, "portal_url": deps.settings.portal_url,
                 "required": mfa_rules.required_for(user.roles)})
    return reset_user
