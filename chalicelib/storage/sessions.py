"""Sign-in state kept by the product itself: failed-login counts, the sessions it handed out, and
the sessions of a user that have ended (patterns 33–35 in the storage docstring)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterable, Optional, Tuple

from pynamodb.exceptions import DoesNotExist, UpdateError

from ..domain import error_codes as codes
from ..domain.audit import AuditEntry
from ..domain.ids import digest
from ..domain.clock import iso
from ..domain.sign_in import FailedLogins, Session
from . import keys
from .models import LoginFailuresItem, SessionItem, UserItem
from .repositories import Transaction, _is_condition_failure, append_audit


def _epoch(instant: datetime) -> float:
    return instant.timestamp()


def _instant(epoch) -> datetime:
    return datetime.fromtimestamp(float(epoch), tz=timezone.utc)


class LoginFailures:
    """Failed logins per email and per source IP: atomic counts, forgotten `quiet` after the last."""

    @staticmethod
    def _pk(scope: str) -> str:
        return keys.login_failures_pk(digest(scope))

    def get(self, scope: str) -> Optional[FailedLogins]:
        try:
            item = LoginFailuresItem.get(self._pk(scope), keys.LOGIN_FAILURES_SK, consistent_read=True)
        except DoesNotExist:
            return None
        return FailedLogins(failures=int(item.failures), last_failure_at=_instant(item.last_failure_at))

    def record(self, scope: str, now: datetime, quiet: timedelta, memory: timedelta) -> FailedLogins:
        """Count one failure; returns the count with it. Two failures at once are both counted: the
        count is an atomic ADD while the last failure is recent, and a fresh count starts (1) only
        on the condition that it is not, so a racer that loses either condition tries the other."""
        item = LoginFailuresItem(self._pk(scope), keys.LOGIN_FAILURES_SK)
        cutoff, at = _epoch(now - quiet), _epoch(now)
        for _ in range(10):
            try:
                item.update(actions=[LoginFailuresItem.failures.add(1), LoginFailuresItem.last_failure_at.set(at),
                                     LoginFailuresItem.expires_at.set(now + memory)],
                            condition=LoginFailuresItem.last_failure_at > cutoff)
                return FailedLogins(failures=int(item.failures), last_failure_at=_instant(item.last_failure_at))
            except UpdateError as exc:
                if not _is_condition_failure(exc):
                    raise
            try:
                item.update(actions=[LoginFailuresItem.failures.set(1), LoginFailuresItem.last_failure_at.set(at),
                                     LoginFailuresItem.expires_at.set(now + memory)],
                            condition=LoginFailuresItem.last_failure_at.does_not_exist()
                            | (LoginFailuresItem.last_failure_at <= cutoff))
                return FailedLogins(failures=1, last_failure_at=now)
            except UpdateError as exc:
                if not _is_condition_failure(exc):
                    raise
        raise codes.CONCURRENT_UPDATE()

    def forget(self, scope: str) -> None:
        LoginFailuresItem(self._pk(scope), keys.LOGIN_FAILURES_SK).delete()

    def claim_attempt(self, scope: str, now: datetime, lease: timedelta) -> bool:
        """The turn of one attempt of `scope` (an email): False while another holds it. Attempts at
        once would otherwise all read the count before any failure is added, and a burst of guesses
        would reach the identity provider before the first wait. The lease ends a turn whose holder
        died; `release_attempt` ends it at once."""
        item = LoginFailuresItem(self._pk(scope), keys.LOGIN_ATTEMPT_SK)
        try:
            item.update(actions=[LoginFailuresItem.last_failure_at.set(_epoch(now + lease)),
                                 LoginFailuresItem.expires_at.set(now + lease + timedelta(minutes=5))],
                        condition=LoginFailuresItem.last_failure_at.does_not_exist()
                        | (LoginFailuresItem.last_failure_at <= _epoch(now)))
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def release_attempt(self, scope: str) -> None:
        LoginFailuresItem(self._pk(scope), keys.LOGIN_ATTEMPT_SK).delete()


class Sessions:
    """The sessions the product handed out, by a digest of their refresh token. A refresh token
    not found here (never handed out, logged out, expired) opens nothing."""

    @staticmethod
    def _pk(refresh_token: str) -> str:
        return keys.session_pk(digest(refresh_token))

    def start(self, refresh_token: str, session: Session, expires_at: datetime) -> None:
        SessionItem(self._pk(refresh_token), keys.SESSION_SK, user_id=session.user_id,
                    origin_jti=session.origin_jti, started_at=iso(session.started_at),
                    expires_at=expires_at).save()

    def get(self, refresh_token: str, now: datetime) -> Optional[Session]:
        try:
            item = SessionItem.get(self._pk(refresh_token), keys.SESSION_SK, consistent_read=True)
        except DoesNotExist:
            return None
        if item.expires_at <= now:  # DynamoDB's TTL deletes late
            return None
        return Session(user_id=item.user_id, origin_jti=item.origin_jti,
                       started_at=datetime.fromisoformat(item.started_at))

    def forget(self, refresh_token: str) -> None:
        SessionItem(self._pk(refresh_token), keys.SESSION_SK).delete()


class UserSessions:
    """What ends a user's sessions, kept on the user item that every authenticated request reads
    already (so checking it costs no extra call): updates of those attributes only, never a put."""

    def __init__(self, transaction: Transaction):
        self._tx = transaction

    def end(self, user_id: str, origin_jti: str, until: datetime, expired: Iterable[Tuple[str, int]] = ()) -> None:
        """One session logged out: its access tokens (this `origin_jti`) are refused until `until`,
        when the last of them expires; entries already past their expiry are pruned."""
        item = UserItem(keys.user_pk(user_id), keys.USER_SK)
        try:
            item.update(actions=[UserItem.ended_sessions.add({f"{origin_jti} {int(until.timestamp())}"})],
                        condition=UserItem.pk.exists())
        except UpdateError as exc:
            if _is_condition_failure(exc):
                return  # the user is gone: nothing of it opens anything any more
            raise
        stale = {f"{jti} {expiry}" for jti, expiry in expired}
        if stale:
            # Only the named entries are deleted: a logout at the same moment keeps its own.
            item.update(actions=[UserItem.ended_sessions.delete(stale)])

    def end_all(self, user_id: str, at: datetime, audit: AuditEntry) -> None:
        """Every session of the user started until `at` has ended (a password change), audited."""
        def build(tx):
            tx.update(UserItem(keys.user_pk(user_id), keys.USER_SK),
                      actions=[UserItem.sessions_valid_after.set(iso(at))], condition=UserItem.pk.exists(),
                      label="user")
            append_audit(tx, audit)

        self._tx.run(build, on_conflict=codes.UNKNOWN_USER())
