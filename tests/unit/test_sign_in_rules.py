"""Failed-login throttling and ended sessions as pure rules (domain/sign_in.py), and the deployed
pool keeping Cognito's own protection on."""
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from chalicelib.settings import from_environ
from chalicelib.domain.sign_in import (FailedLogins, ThrottlePolicy, is_locked, refused_for, session_started_before,
                                       starts_the_lock, still_counted, still_ended, token_session_ended)

POLICY = ThrottlePolicy()
NOW = datetime(2026, 11, 29, 15, 0, tzinfo=timezone.utc)


def test_four_failures_cost_nothing_then_each_failure_doubles_the_wait_until_the_lock():
    waits = [refused_for(FailedLogins(n, NOW), POLICY, NOW) for n in range(1, 12)]
    assert waits == [None, None, None, None, 15, 30, 60, 120, 240, 1800, 1800]
    assert [is_locked(FailedLogins(n, NOW), POLICY) for n in (9, 10, 11)] == [False, True, True]
    assert [starts_the_lock(n, POLICY) for n in (9, 10, 11)] == [False, True, False]


def test_a_wait_counts_down_and_ends():
    count = FailedLogins(6, NOW)
    assert refused_for(count, POLICY, NOW + timedelta(seconds=29, milliseconds=500)) == 1
    assert refused_for(count, POLICY, NOW + timedelta(seconds=30)) is None
    assert refused_for(FailedLogins(10, NOW), POLICY, NOW + timedelta(minutes=30)) is None
    assert refused_for(None, POLICY, NOW) is None


def test_failures_are_forgotten_after_fifteen_minutes_without_one_and_outlast_the_longest_wait():
    assert still_counted(NOW, NOW + timedelta(minutes=14, seconds=59), POLICY)
    assert not still_counted(NOW, NOW + timedelta(minutes=15), POLICY)
    longest_wait = refused_for(FailedLogins(POLICY.failures_before_lock - 1, NOW), POLICY, NOW)
    assert timedelta(seconds=longest_wait) < POLICY.quiet  # the tenth failure is always reachable
    assert POLICY.memory > POLICY.lock


def test_an_access_token_of_a_logged_out_session_or_from_before_a_password_change_has_ended():
    assert token_session_ended({"origin_jti": "a", "iat": 100}, {"a": 4000}, None)
    assert not token_session_ended({"origin_jti": "b", "iat": 100}, {"a": 4000}, None)
    changed = datetime.fromtimestamp(1000.4, tz=timezone.utc)
    assert token_session_ended({"iat": 999}, {}, changed)
    assert token_session_ended({"iat": 1000}, {}, changed)  # the same second: counted as before
    assert not token_session_ended({"iat": 1001}, {}, changed)
    assert token_session_ended({}, {}, changed)  # no issue time: nothing proves it came after


def test_a_session_started_before_a_password_change_has_ended():
    changed = datetime.fromtimestamp(1000.4, tz=timezone.utc)
    assert session_started_before(changed - timedelta(milliseconds=1), changed)
    assert not session_started_before(changed + timedelta(milliseconds=1), changed)
    assert not session_started_before(changed, None)


def test_logged_out_sessions_are_kept_until_their_last_access_token_expires():
    assert still_ended({"a": int(NOW.timestamp()) + 1, "b": int(NOW.timestamp())}, NOW) == {
        "a": int(NOW.timestamp()) + 1}


def test_the_deployed_pool_keeps_cognitos_threat_protection_on_and_revokes_tokens():
    resources = json.loads((Path(__file__).resolve().parents[2] / "infra" / "resources.json").read_text())["Resources"]
    pool, client = resources["UserPool"]["Properties"], resources["UserPoolWebClient"]["Properties"]
    assert pool["UserPoolAddOns"] == {"AdvancedSecurityMode": "ENFORCED"} and pool["UserPoolTier"] == "PLUS"
    assert client["EnableTokenRevocation"] is True
    # The product keeps a logged-out session's access tokens refused for as long as they live.
    assert client["AccessTokenValidity"] == 60 and client["TokenValidityUnits"]["AccessToken"] == "minutes"
    assert client["RefreshTokenValidity"] == 30 and client["TokenValidityUnits"]["RefreshToken"] == "days"
    defaults = from_environ({}).sign_in
    assert defaults.access_token_lifetime == timedelta(minutes=client["AccessTokenValidity"])
    assert defaults.refresh_token_lifetime == timedelta(days=client["RefreshTokenValidity"])
