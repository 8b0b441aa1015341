"""Login throttling and sessions that end: enforced by the product, before Cognito is asked.

Failed logins are counted per email and per source IP (domain/sign_in.py). An attempt is refused
while either is slowed down or locked, before the identity provider hears of it; the answer is
the same whether the email has a user or not, and so is the work (a failure is counted for both;
at the lock the identity is looked up for both, and only a user gets the email).

Every session the product hands out (login, first password) is remembered by its refresh token:
a refresh token it did not hand out, logged out, of a removed user or started before a password
change opens nothing, whether the identity provider would agree or not (the local Cognito keeps
refresh tokens of deleted users, and does not implement RevokeToken).
"""
from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, List, Mapping, Optional, Protocol, Tuple

from ..domain import error_codes as codes
from ..domain import sign_in
from ..domain.clock import SAO_PAULO
from ..domain.errors import DomainError
from ..domain.ids import digest
from ..domain.users import User
from . import audit, notifications
from .caller import Caller

log = logging.getLogger("csp_portal.sessions")

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.identity import CognitoIdentity, Tokens, TokenVerifier
    from ..settings import Settings
    from ..storage.repositories import UserRepository
    from ..storage.sessions import LoginFailures, Sessions, UserSessions
    from .audit import Clocked
    from .notifications import QueuesEmails

    class ThrottleDeps(Clocked, QueuesEmails, Protocol):
        """Failed logins counted, an attempt refused while they hold, the lock told to its user."""

        settings: Settings
        identity: CognitoIdentity
        login_failures: LoginFailures

    class SessionStartDeps(Clocked, Protocol):
        """A session handed out, remembered by its refresh token."""

        settings: Settings
        verifier: TokenVerifier
        sessions: Sessions

    class RefreshDeps(Clocked, Protocol):
        """A refresh: the session must be one the product handed out and its user's, still open."""

        identity: CognitoIdentity
        sessions: Sessions
        users: UserRepository

    class LogoutDeps(RefreshDeps, Protocol):
        """A logout: the session's access tokens refused until they expire, its refresh forgotten."""

        settings: Settings
        user_sessions: UserSessions

    class PasswordChangeDeps(ThrottleDeps, Protocol):
        """A password change, throttled like a login, ending every session of the user."""

        user_sessions: UserSessions


def _instant(raw: Optional[str]) -> Optional[datetime]:
    return datetime.fromisoformat(raw) if raw else None


# --- throttling ------------------------------------------------------------------------------------

def _scopes(deps: ThrottleDeps, email: str, source_ip: Optional[str]) -> List[Tuple[str, sign_in.ThrottlePolicy]]:
    limits = deps.settings.sign_in
    scopes = [(f"email:{email}", limits.email)]
    if source_ip:  # API Gateway always gives one; a request without has no address to count
        scopes.append((f"ip:{source_ip}", limits.ip))
    return scopes


def refuse_while_throttled(deps: ThrottleDeps, *, email: str, source_ip: Optional[str]) -> None:
    """429 while the email or the source IP is slowed down (`login_delayed`) or locked
    (`login_locked`), with the seconds to wait; nothing is asked of anyone else."""
    now = deps.clock()
    wait, locked = 0, False
    for scope, policy in _scopes(deps, email, source_ip):
        count = deps.login_failures.get(scope)
        seconds = sign_in.refused_for(count, policy, now)
        if seconds is not None:
            wait = max(wait, seconds)
            locked = locked or sign_in.is_locked(count, policy)
    if locked:
        raise codes.LOGIN_LOCKED(retry_after_seconds=wait, retry_after_minutes=math.ceil(wait / 60))
    if wait:
        raise codes.LOGIN_DELAYED(retry_after_seconds=wait)


def count_failure(deps: ThrottleDeps, *, email: str, source_ip: Optional[str]) -> None:
    now = deps.clock()
    for scope, policy in _scopes(deps, email, source_ip):
        count = deps.login_failures.record(scope, now, policy.quiet, policy.memory)
        if scope.startswith("email:") and sign_in.starts_the_lock(count.failures, policy):
            _tell_locked(deps, email, count, policy)


def _tell_locked(deps: ThrottleDeps, email: str, count: sign_in.FailedLogins,
                 policy: sign_in.ThrottlePolicy) -> None:
    # Looked up for an unknown email too: the same work either way; only a user is written to.
    name = deps.identity.display_name(email)
    if name is None:
        return
    until = (count.last_failure_at + policy.lock).astimezone(SAO_PAULO)
    notifications.queue_email(
        deps, template="login_locked", to=[email],
        # One email per lock: only the failure that reached the lock sends it, and the key names the lock.
        delivery_key=f"login_locked#{digest(email)}#{int(count.last_failure_at.timestamp())}",
        context={"user": {"name": name, "email": email}, "failures": count.failures,
                 "minutes": int(policy.lock.total_seconds() // 60), "until": until.strftime("%H:%M"),
                 "portal_url": deps.settings.portal_url})


def forget_failures(deps: ThrottleDeps, *, email: str) -> None:
    """A right password: the email's count starts again (the source IP's does not: one good
    account must not clear an address that tries many)."""
    deps.login_failures.forget(f"email:{email}")


# How long a login attempt may hold its email's turn if it never releases it (a Lambda that died):
# longer than the identity provider's answer takes, short enough not to be felt.
ATTEMPT_LEASE = timedelta(seconds=15)


def throttled(deps: ThrottleDeps, *, email: str, source_ip: Optional[str], attempt, wrong_code: str,
              forget: bool = True):
    """`attempt()` unless throttled; a failure with `wrong_code` is counted, a success forgets the
    email's failures (unless `forget` is False: a login that still asks for a code is not done)."""
    # One attempt of an email at a time, and its count read once the turn is taken: a burst of
    # guesses sent at once is not let through before the first of them is counted.
    turn = f"email:{email}"
    if not deps.login_failures.claim_attempt(turn, deps.clock(), ATTEMPT_LEASE):
        raise codes.LOGIN_DELAYED(retry_after_seconds=1)
    try:
        refuse_while_throttled(deps, email=email, source_ip=source_ip)
        result = attempt()
    except DomainError as exc:
        if exc.code == wrong_code:
            count_failure(deps, email=email, source_ip=source_ip)
        raise
    finally:
        deps.login_failures.release_attempt(turn)
    if forget:
        forget_failures(deps, email=email)
    return result


# --- sessions --------------------------------------------------------------------------------------

def start(deps: SessionStartDeps, tokens: Tokens) -> Tokens:
    """Remember the session of tokens just issued, so that its refresh token works (and only then)."""
    if tokens.refresh_token:
        verified = deps.verifier.verify(tokens.access_token)
        now = deps.clock()
        deps.sessions.start(tokens.refresh_token,
                            sign_in.Session(user_id=verified.subject, origin_jti=verified.claims.get("origin_jti"),
                                    started_at=now),
                            now + deps.settings.sign_in.refresh_token_lifetime)
    return tokens


def ensure_open(user: User, claims: Mapping[str, Any]) -> None:
    """401 `session_ended` for an access token of a session logged out or ended by a password change."""
    if sign_in.token_session_ended(claims, user.ended_sessions, _instant(user.sessions_valid_after)):
        raise codes.SESSION_ENDED()


def refresh(deps: RefreshDeps, *, refresh_token: str) -> Tokens:
    now = deps.clock()
    session = deps.sessions.get(refresh_token, now)
    user = deps.users.get(session.user_id) if session is not None else None
    if session is None or user is None or session.origin_jti in user.ended_sessions \
            or sign_in.session_started_before(session.started_at, _instant(user.sessions_valid_after)):
        # Never handed out, logged out, expired, its user removed, or ended by a password change.
        raise codes.INVALID_REFRESH_TOKEN()
    return deps.identity.refresh(refresh_token)


def logout(deps: LogoutDeps, *, refresh_token: str) -> None:
    """Ends the session of `refresh_token`: remembered here first, then told to Cognito. Repeat-safe,
    and the same answer for a token that opens nothing."""
    now = deps.clock()
    session = deps.sessions.get(refresh_token, now)
    if session is not None:
        user = deps.users.get(session.user_id)
        if user is not None and session.origin_jti:
            alive = sign_in.still_ended(user.ended_sessions, now)
            deps.user_sessions.end(user.id, session.origin_jti, now + deps.settings.sign_in.access_token_lifetime,
                                   expired=[(jti, until) for jti, until in user.ended_sessions.items()
                                            if jti not in alive])
        deps.sessions.forget(refresh_token)
    deps.identity.revoke(refresh_token)


def change_password(deps: PasswordChangeDeps, caller: Caller, *, access_token: str, current_password: str,
                    new_password: str) -> None:
    """The caller's own password, checked like a login (a wrong current password counts as a failed
    login); then every session of the user ends, this one included, audited."""
    user = caller.user
    throttled(deps, email=user.email, source_ip=caller.source_ip, wrong_code=codes.WRONG_CURRENT_PASSWORD.code,
              attempt=lambda: deps.identity.change_password(access_token, current_password, new_password))
    deps.user_sessions.end_all(user.id, deps.clock(), audit.entry(
        deps, caller.actor, user.organization_id, "user.password_changed", f"user:{user.id}"))
    try:
        deps.identity.sign_out_everywhere(user.email)
    except Exception:  # noqa: BLE001 - the password changed and the product already ended every session
        log.warning("Cognito global sign-out after a password change failed; the product refuses the "
                    "user's old sessions", exc_info=True)
