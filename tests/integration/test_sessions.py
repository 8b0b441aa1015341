"""Login throttling (per email and per source IP) and sessions that end (logout, password change,
a removed user), all enforced by the product before Cognito is asked: the local Cognito neither
throttles, nor implements RevokeToken, nor refuses a deleted user's refresh token."""
import time
from datetime import datetime, timezone

import pytest

from chalicelib.api import http
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.roles import Role
from tests.support import PASSWORD, body_text, in_parallel, reading_together

WRONG = "Errada#2026senha"
NEW_PASSWORD = "Nova#Senha2026x"


@pytest.fixture
def source_ip(monkeypatch):
    """Requests come from the address in their X-Test-Source-Ip header (API Gateway's sourceIp)."""
    monkeypatch.setattr(http, "_source_ip", lambda request: (request.headers or {}).get("x-test-source-ip",
                                                                                          "198.51.100.1"))


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(datetime.now(timezone.utc))
    return world.deps.clock


def login(world, email, password, ip="198.51.100.1"):
    return world.call("POST", "/auth/login", body={"email": email, "password": password},
                      headers={"X-Test-Source-Ip": ip})


def spy(monkeypatch, owner, method):
    calls, real = [], getattr(owner, method)
    monkeypatch.setattr(owner, method, lambda *a, **k: calls.append(a) or real(*a, **k))
    return calls


def answer(response):
    return response.status_code, response.json_body, response.headers.get("Retry-After")


def lock_emails(world, to):
    world.drain_queues()
    return [m for m in world.outbox() if m["To"] == to and "Bloqueamos temporariamente" in m["Subject"]]


def fail_until_locked(world, clock, email, ip="198.51.100.1"):
    """Wrong passwords until ten have failed, each tried again as soon as allowed; the answer of
    every attempt, the refused ones included."""
    answers, failures = [], 0
    while failures < 10:
        response = login(world, email, WRONG, ip)
        answers.append(answer(response))
        if response.status_code == 429:
            clock.advance(seconds=int(response.headers["Retry-After"]))
        else:
            assert response.status_code == 401, response.json_body
            failures += 1
    return answers


def test_the_eleventh_attempt_is_refused_before_cognito_even_with_the_right_password(world, clock, source_ip,
                                                                                      monkeypatch):
    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    email = org.master.user.email
    asked = spy(monkeypatch, world.deps.identity, "login")

    answers = fail_until_locked(world, clock, email)
    # Five failures in a row are answered at once; from then on the next attempt must wait, twice
    # as long after each failure.
    assert [a[0] for a in answers] == [401] * 5 + [429, 401] * 5
    assert [(a[1]["error"]["code"], a[2]) for a in answers[5::2]] == [
        ("login_delayed", "15"), ("login_delayed", "30"), ("login_delayed", "60"), ("login_delayed", "120"),
        ("login_delayed", "240")]
    assert answers[5][1]["error"]["details"] == {"retry_after_seconds": 15}
    assert len(asked) == 10  # the refused attempts never reached Cognito

    # Locked: the right password is refused too, and Cognito is not asked.
    right = login(world, email, PASSWORD)
    assert right.status_code == 429 and right.json_body["error"]["code"] == "login_locked"
    assert right.headers["Retry-After"] == "1800" and right.json_body["error"]["details"]["retry_after_minutes"] == 30
    assert len(asked) == 10

    # One email tells the user, in pt-BR; attempts during the lock send no other.
    [message] = lock_emails(world, email)
    text = body_text(message)
    assert "Bloqueamos temporariamente o acesso ao portal com o e-mail " + email in text
    assert "O bloqueio dura 30 minutos" in text and "Trocar senha" in text
    clock.advance(minutes=29)
    assert login(world, email, PASSWORD).json_body["error"]["code"] == "login_locked"
    assert len(lock_emails(world, email)) == 1

    # The lock ends on time; a right password opens, and the count starts again from nothing.
    clock.advance(minutes=1)
    assert login(world, email, PASSWORD).status_code == 200
    assert login(world, email, WRONG).status_code == 401
    assert login(world, email, WRONG).status_code == 401
    assert len(asked) == 13 and len(lock_emails(world, email)) == 1


def test_a_right_password_before_the_lock_forgets_the_failures(world, clock, source_ip):
    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    email = org.master.user.email
    for _ in range(4):
        assert login(world, email, WRONG).status_code == 401
    assert login(world, email, PASSWORD).status_code == 200
    for _ in range(4):
        assert login(world, email, WRONG).status_code == 401
    assert login(world, email, WRONG).status_code == 401  # the 5th since the success, not the 9th
    assert login(world, email, WRONG).json_body["error"]["details"] == {"retry_after_seconds": 15}


def test_failures_are_forgotten_after_fifteen_quiet_minutes(world, clock, source_ip):
    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    email = org.master.user.email
    for _ in range(4):
        assert login(world, email, WRONG).status_code == 401
    clock.advance(minutes=15)
    for _ in range(4):
        assert login(world, email, WRONG).status_code == 401
    assert login(world, email, WRONG).status_code == 401


def test_an_unknown_email_gets_the_same_answers_and_the_same_lock_without_an_email(world, clock, source_ip,
                                                                                  monkeypatch):
    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    known, unknown = org.master.user.email, "ninguem@desconhecida.example"
    looked_up = spy(monkeypatch, world.deps.identity, "display_name")
    start = clock.now
    known_answers = fail_until_locked(world, clock, known, ip="198.51.100.7")
    clock.now = start
    unknown_answers = fail_until_locked(world, clock, unknown, ip="198.51.100.8")
    # Same status, same body, same Retry-After at every step: nothing tells the two apart.
    assert known_answers == unknown_answers
    locked = [answer(login(world, e, PASSWORD, ip)) for e, ip in ((known, "198.51.100.7"),
                                                                  (unknown, "198.51.100.8"))]
    assert locked[0] == locked[1] and locked[0][1]["error"]["code"] == "login_locked"
    # The same work at the lock (the identity is looked up for both); only the user is written to.
    assert looked_up == [(known,), (unknown,)]
    world.drain_queues()
    assert [m["To"] for m in world.outbox()] == [known]


def test_a_source_ip_that_fails_with_many_emails_is_slowed_down_for_every_email(world, clock, source_ip):
    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    for n in range(20):
        assert login(world, f"tentativa{n}@spray.example", WRONG, ip="203.0.113.9").status_code == 401
    # The 21st from that address waits, even for a real user with the right password...
    refused = login(world, org.master.user.email, PASSWORD, ip="203.0.113.9")
    assert refused.status_code == 429 and refused.json_body["error"]["code"] == "login_delayed"
    assert refused.headers["Retry-After"] == "15"
    # ...while the same user from another address is not held up.
    assert login(world, org.master.user.email, PASSWORD, ip="203.0.113.10").status_code == 200


def test_attempts_of_one_email_at_the_same_moment_take_turns(world, clock, source_ip, monkeypatch):
    """A burst of guesses sent at once must not all reach Cognito before the first is counted: one
    attempt of an email at a time; the others are told to wait a second."""
    import threading

    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    email = org.master.user.email
    answered, others_done = [], threading.Event()
    real = world.deps.identity.login

    def slow_login(*args, **kwargs):
        others_done.wait(10)  # Cognito answers only after the other four were refused
        return real(*args, **kwargs)

    asked = []
    monkeypatch.setattr(world.deps.identity, "login", lambda *a, **k: asked.append(a) or slow_login(*a, **k))

    def attempt(n):
        response = login(world, email, WRONG)
        answered.append(response.status_code)
        if answered.count(429) == 4:
            others_done.set()
        return answer(response)

    outcomes = in_parallel(5, attempt)
    assert len(asked) == 1
    assert sorted(o[0] for o in outcomes) == [401, 429, 429, 429, 429]
    assert {(o[1]["error"]["code"], o[2]) for o in outcomes if o[0] == 429} == {("login_delayed", "1")}
    # The turn is free again: the next attempt reaches Cognito.
    assert login(world, email, WRONG).status_code == 401 and len(asked) == 2


def test_failures_at_the_same_moment_are_all_counted(world, clock, source_ip, monkeypatch):
    """Five emails failing at once from one address: the address's count has all five."""
    orgs = [world.organization(mfa_enrolled=False, items=()) for _ in range(5)]
    # The five attempts all read "no failures yet" before any is counted, then all fail together.
    reading_together(monkeypatch, world.deps.login_failures, "get", 5)
    outcomes = in_parallel(5, lambda n: login(world, orgs[n].master.user.email, WRONG).status_code)
    assert outcomes == [401] * 5
    assert world.deps.login_failures.get("ip:198.51.100.1").failures == 5


# --- sessions -------------------------------------------------------------------------------------

def tokens_of(world, email, password=PASSWORD):
    response = world.call("POST", "/auth/login", body={"email": email, "password": password})
    assert response.status_code == 200, response.json_body
    return response.json_body


def me(world, access_token):
    return world.call("GET", "/me", headers={"Authorization": f"Bearer {access_token}"})


def refresh(world, refresh_token):
    return world.call("POST", "/auth/refresh", body={"refresh_token": refresh_token})


def code(response):
    return response.status_code, response.json_body["error"]["code"]


def test_logout_ends_its_session_and_only_it(world, monkeypatch):
    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    email = org.master.user.email
    here, elsewhere = tokens_of(world, email), tokens_of(world, email)
    renewed = refresh(world, here["refresh_token"]).json_body  # an access token of the same session
    revoked = spy(monkeypatch, world.deps.identity, "revoke")

    out = world.call("POST", "/auth/logout", body={"refresh_token": here["refresh_token"]})
    assert out.status_code == 204 and revoked == [(here["refresh_token"],)]

    refreshing = spy(monkeypatch, world.deps.identity, "refresh")
    assert code(refresh(world, here["refresh_token"])) == (401, "invalid_refresh_token")
    assert refreshing == []  # refused by the product: the local Cognito would still refresh it
    assert code(me(world, here["access_token"])) == (401, "session_ended")
    assert code(me(world, renewed["access_token"])) == (401, "session_ended")
    # The other session of the same user goes on.
    assert me(world, elsewhere["access_token"]).status_code == 200
    assert refresh(world, elsewhere["refresh_token"]).status_code == 200
    # Logging out again, or with a token that opens nothing, is the same 204.
    assert world.call("POST", "/auth/logout", body={"refresh_token": here["refresh_token"]}).status_code == 204
    assert world.call("POST", "/auth/logout", body={"refresh_token": "y" * 40}).status_code == 204


def test_only_refresh_tokens_the_product_handed_out_refresh(world):
    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    # Issued by Cognito, but not through the portal's login: the product has no session for it.
    foreign = world.deps.identity.login(org.master.user.email, PASSWORD).refresh_token
    assert code(refresh(world, foreign)) == (401, "invalid_refresh_token")


def test_a_password_change_ends_every_session_of_the_user(world, monkeypatch):
    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    email = org.master.user.email
    here, elsewhere = tokens_of(world, email), tokens_of(world, email)
    other_user = world.user(org.id, [Role.ADM])
    as_here = {"Authorization": f"Bearer {here['access_token']}"}

    def change(current, new):
        return world.call("POST", "/auth/password", body={"current_password": current, "new_password": new},
                          headers=as_here)

    # A wrong current password or a weak new one changes nothing and ends nothing.
    wrong = change(WRONG, NEW_PASSWORD)
    assert code(wrong) == (400, "wrong_current_password") and wrong.json_body["error"]["details"]["field"] == \
        "current_password"
    assert code(change(PASSWORD, "curta")) == (400, "weak_password")
    assert me(world, elsewhere["access_token"]).status_code == 200

    assert change(PASSWORD, NEW_PASSWORD).status_code == 204
    refreshing = spy(monkeypatch, world.deps.identity, "refresh")
    for session in (here, elsewhere):
        assert code(me(world, session["access_token"])) == (401, "session_ended")
        assert code(refresh(world, session["refresh_token"])) == (401, "invalid_refresh_token")
    assert refreshing == []  # refused by the product, whatever Cognito would say
    assert me(world, other_user.token).status_code == 200  # another user's sessions go on

    assert code(login(world, email, PASSWORD)) == (401, "invalid_credentials")
    time.sleep(1.1)  # token times are whole seconds: one issued in the second of the change is refused
    fresh = tokens_of(world, email, NEW_PASSWORD)
    assert me(world, fresh["access_token"]).status_code == 200
    assert refresh(world, fresh["refresh_token"]).status_code == 200
    # The trail (a Master not yet enrolled in MFA may change its password, not read the trail).
    entries, _ = world.deps.audit.list(org.id, since="2000-01-01", until="2100-01-01", limit=100, next_token=None)
    assert [e.action for e in entries].count("user.password_changed") == 1


def test_wrong_current_passwords_count_as_failed_logins(world, clock, source_ip):
    org = world.organization(mfa_enrolled=False)  # logs in with its password alone (MFA: test_mfa.py)
    email = org.master.user.email
    token = tokens_of(world, email)["access_token"]
    for _ in range(5):
        response = world.call("POST", "/auth/password", body={"current_password": WRONG, "new_password": NEW_PASSWORD},
                              headers={"Authorization": f"Bearer {token}"})
        assert code(response) == (400, "wrong_current_password")
    refused = login(world, email, PASSWORD)
    assert code(refused) == (429, "login_delayed")


def test_a_removed_users_refresh_token_is_401_not_500(world, monkeypatch):
    org = world.organization()
    adm = world.user(org.id, [Role.ADM])
    session = tokens_of(world, adm.user.email)
    assert world.call("DELETE", f"/users/{adm.user.id}", org.master).status_code == 204
    refreshing = spy(monkeypatch, world.deps.identity, "refresh")
    assert code(refresh(world, session["refresh_token"])) == (401, "invalid_refresh_token")
    assert refreshing == []
    assert code(me(world, session["access_token"])) == (401, "unknown_user")


def test_a_role_change_after_a_logout_does_not_bring_the_session_back(world):
    org = world.organization()
    adm = world.user(org.id, [Role.ADM])
    session = tokens_of(world, adm.user.email)
    assert world.call("POST", "/auth/logout", body={"refresh_token": session["refresh_token"]}).status_code == 204
    changed = world.call("PATCH", f"/users/{adm.user.id}", org.master, {"roles": ["adm", "suporte"]})
    assert changed.status_code == 200 and changed.json_body["version"] == 2
    assert code(me(world, session["access_token"])) == (401, "session_ended")
    assert me(world, adm.token).status_code == 200  # its other session, with the new roles
    assert me(world, adm.token).json_body["roles"] == ["adm", "suporte"]
