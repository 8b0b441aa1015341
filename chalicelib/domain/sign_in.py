"""Sign-in protection: how failed logins slow a login down and lock it, and when a session has ended.

Failed logins are counted per email and per source IP (storage keeps the counts). A count is
forgotten after `quiet` without a failure; from `failures_before_delay` on, each failure makes the
next attempt wait twice as long as the one before; at `failures_before_lock` the login is locked
for `lock`. A refused attempt is not a failure (it never reaches the identity provider), so a
lock ends when its time is up and counting starts again.

A session ends when it is logged out (its `origin_jti` is remembered on the user until its last
access token expires) or when every session of the user is ended (a password change): tokens
issued before `sessions_valid_after` open nothing.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping, Optional


@dataclass(frozen=True)
class ThrottlePolicy:
    failures_before_delay: int = 5
    failures_before_lock: int = 10
    first_delay: timedelta = timedelta(seconds=15)
    lock: timedelta = timedelta(minutes=30)
    quiet: timedelta = timedelta(minutes=15)

    @property
    def memory(self) -> timedelta:
        """How long a count must be kept (its item's TTL): the lock or the quiet period, whichever is longer."""
        return max(self.lock, self.quiet) + timedelta(minutes=1)


@dataclass(frozen=True)
class FailedLogins:
    """The failures counted for one email or one source IP, and when the last one happened."""

    failures: int
    last_failure_at: datetime


def blocked_until(count: Optional[FailedLogins], policy: ThrottlePolicy) -> Optional[datetime]:
    """Until when a new attempt is refused, or None when one may be tried now."""
    if count is None or count.failures < policy.failures_before_delay:
        return None
    if count.failures >= policy.failures_before_lock:
        return count.last_failure_at + policy.lock
    return count.last_failure_at + policy.first_delay * 2 ** (count.failures - policy.failures_before_delay)


def refused_for(count: Optional[FailedLogins], policy: ThrottlePolicy, now: datetime) -> Optional[int]:
    """The whole seconds an attempt made `now` must still wait (at least 1), or None."""
    until = blocked_until(count, policy)
    if until is None or until <= now:
        return None
    return max(1, math.ceil((until - now).total_seconds()))


def is_locked(count: Optional[FailedLogins], policy: ThrottlePolicy) -> bool:
    return count is not None and count.failures >= policy.failures_before_lock


def starts_the_lock(failures: int, policy: ThrottlePolicy) -> bool:
    """The failure that locks the login: counts are atomic, so exactly one request sees it."""
    return failures == policy.failures_before_lock


def still_counted(last_failure_at: datetime, now: datetime, policy: ThrottlePolicy) -> bool:
    return now - last_failure_at < policy.quiet


# --- sessions --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Session:
    """A session the product handed out: whose, its Cognito `origin_jti`, when it started."""

    user_id: str
    origin_jti: Optional[str]
    started_at: datetime


def token_session_ended(claims: Mapping[str, Any], ended_sessions: Mapping[str, int],
                        sessions_valid_after: Optional[datetime]) -> bool:
    """Whether an access token belongs to a session that was ended: logged out (its `origin_jti`),
    or issued before every session of its user was ended. Token times are whole seconds, so a token
    issued in the second the sessions were ended counts as before (refused)."""
    origin = claims.get("origin_jti")
    if origin and origin in ended_sessions:
        return True
    if sessions_valid_after is None:
        return False
    issued = claims.get("iat")
    return not isinstance(issued, (int, float)) or issued < math.ceil(sessions_valid_after.timestamp())


def session_started_before(started_at: datetime, sessions_valid_after: Optional[datetime]) -> bool:
    """Whether a session (by the instant the product handed out its refresh token) began before
    every session of its user was ended."""
    return sessions_valid_after is not None and started_at <= sessions_valid_after


def still_ended(ended_sessions: Mapping[str, int], now: datetime) -> Mapping[str, int]:
    """The ended sessions whose access tokens may still be alive (by their expiry, epoch seconds)."""
    return {jti: until for jti, until in ended_sessions.items() if until > now.timestamp()}
