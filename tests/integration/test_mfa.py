"""MFA (TOTP): the profiles that need it stop at enrolment; enrolment, the login's code, the
operator's reset; and the refusals that must not rest on the local Cognito (a session of one user
with another's email, a session of one challenge used for another, a pool that lets an enrolled user
in without a code)."""
import time

import pyotp
import pytest

from chalicelib.domain.roles import Role
from local.moto_fixes import LOCAL_TOTP_SECRET
from tests.identity_fakes import StrictTotpIdentity
from tests.support import PASSWORD, totp_code


def _login(world, email, password=PASSWORD):
    return world.call("POST", "/auth/login", body={"email": email, "password": password})


def _answer(world, email, session, code):
    return world.call("POST", "/auth/mfa", body={"email": email, "session": session, "code": code})


def _bearer(token):
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def _error(response):
    return response.status_code, response.json_body["error"]["code"]


def _trail(world, org_id, action):
    entries, _ = world.deps.audit.list(org_id, since="2000-01-01", until="2100-01-01", limit=100, next_token=None)
    return [e for e in entries if e.action == action]


@pytest.fixture
def strict(world):
    """The identity adapter with per-user TOTP secrets (tests/identity_fakes.py)."""
    world.deps.identity = StrictTotpIdentity(world.deps.identity)
    return world.deps.identity


def test_a_master_or_operator_without_mfa_reaches_only_enrolment_and_me(world):
    org = world.organization(mfa_enrolled=False)
    master = org.master
    refused = world.call("GET", "/subscriptions", master)
    assert _error(refused) == (403, "mfa_enrolment_required")
    assert _error(world.call("GET", "/users", master)) == (403, "mfa_enrolment_required")
    assert _error(world.call("POST", "/contract/accept", master)) == (403, "mfa_enrolment_required")
    me = world.call("GET", "/me", master)
    assert me.status_code == 200 and me.json_body["mfa"] == {"required": True, "enrolled_at": None}
    assert world.call("POST", "/auth/mfa/setup", master).status_code == 200

    operator = world.operator(mfa_enrolled=False)
    assert _error(world.call("GET", "/backoffice/leads", operator)) == (403, "mfa_enrolment_required")
    # Acting for a customer does not help either.
    assert _error(world.call("GET", "/subscriptions", operator, headers={"X-Organization-Id": org.id})) == \
        (403, "mfa_enrolment_required")

    # An optional profile works without it.
    adm = world.user(org.id, [Role.ADM])
    assert world.call("GET", "/subscriptions", adm).status_code == 200
    assert world.call("GET", "/me", adm).json_body["mfa"] == {"required": False, "enrolled_at": None}


def test_enrolment_then_every_login_asks_the_users_own_code(world, strict):
    org = world.organization(mfa_enrolled=False)
    email = org.master.user.email
    setup = world.call("POST", "/auth/mfa/setup", org.master)
    assert setup.status_code == 200
    secret = setup.json_body["secret"]
    assert setup.json_body["otpauth_uri"].startswith("otpauth://totp/Brasoftware%20Cloud:" + email + "?secret=" + secret)

    # A code of another secret (another user's app) does not enrol: nothing written.
    wrong = world.call("POST", "/auth/mfa/verify", org.master, body={"code": pyotp.TOTP(pyotp.random_base32()).now()})
    assert _error(wrong) == (400, "invalid_mfa_code")
    assert _error(world.call("POST", "/auth/mfa/verify", org.master, body={"code": "12a456"})) == \
        (400, "invalid_mfa_code")
    assert world.deps.users.get(org.master.user.id).mfa_enrolled_at is None
    assert _trail(world, org.id, "user.mfa_enrolled") == []

    verified = world.call("POST", "/auth/mfa/verify", org.master, body={"code": totp_code(secret)})
    assert verified.status_code == 200 and verified.json_body["mfa_enrolled_at"] is not None
    [entry] = _trail(world, org.id, "user.mfa_enrolled")
    assert (entry.actor_id, entry.target) == (org.master.user.id, f"user:{org.master.user.id}")
    assert world.call("GET", "/subscriptions", org.master).status_code == 200
    # Once enrolled, a new device goes through an operator's reset.
    assert _error(world.call("POST", "/auth/mfa/setup", org.master)) == (409, "mfa_already_enrolled")

    challenge = _login(world, email)
    assert challenge.status_code == 200 and challenge.json_body["challenge"] == "SOFTWARE_TOKEN_MFA"
    assert "access_token" not in challenge.json_body
    session = challenge.json_body["session"]
    # A wrong code is a 401 and spends nothing: the right one still opens the session once.
    assert _error(_answer(world, email, session, pyotp.TOTP(pyotp.random_base32()).now())) == \
        (401, "mfa_code_mismatch")
    tokens = _answer(world, email, session, totp_code(secret))
    assert tokens.status_code == 200
    assert world.call("GET", "/subscriptions", headers=_bearer(tokens.json_body["access_token"])).status_code == 200
    assert _error(_answer(world, email, session, totp_code(secret))) == (401, "invalid_mfa_session")


def test_a_challenge_session_answers_only_for_the_user_who_logged_in(world, monkeypatch):
    """On the local Cognito itself: it would take the other email from the request, and its one
    secret for everyone makes the attacker's code the victim's too."""
    identity = world.deps.identity
    attacker = world.organization(mfa_enrolled=False).master
    victim = world.organization(mfa_enrolled=False).master
    world.enrol(attacker.headers)
    world.enrol(victim.headers)
    session = _login(world, attacker.user.email).json_body["session"]
    asked, real = [], identity.answer_mfa
    monkeypatch.setattr(identity, "answer_mfa", lambda *a, **k: asked.append(a) or real(*a, **k))
    new_password_asked, real_new_password = [], identity.complete_new_password
    monkeypatch.setattr(identity, "complete_new_password",
                        lambda *a, **k: new_password_asked.append(a) or real_new_password(*a, **k))
    code = totp_code(LOCAL_TOTP_SECRET)  # the local Cognito's one secret, the attacker's and the victim's

    swapped = _answer(world, victim.user.email.upper(), session, code)
    assert _error(swapped) == (401, "invalid_mfa_session") and set(swapped.json_body) == {"error"}
    # The TOTP session sent as a first password (the local Cognito would set it, and skip the code).
    as_password = world.call("POST", "/auth/new-password", body={
        "email": attacker.user.email, "session": session, "new_password": "Outra#Senha2026"})
    assert _error(as_password) == (401, "invalid_session")
    # A session no login issued.
    assert _error(_answer(world, attacker.user.email, "x" * 40, code)) == (401, "invalid_mfa_session")
    assert asked == [] and new_password_asked == []
    assert _login(world, attacker.user.email, "Outra#Senha2026").status_code == 401  # password unchanged

    # On the local Cognito too, a wrong code is a 401, and the session still serves its user.
    wrong = "000000" if code != "000000" else "111111"
    assert _error(_answer(world, attacker.user.email, session, wrong)) == (401, "mfa_code_mismatch")
    done = _answer(world, attacker.user.email, session, totp_code(LOCAL_TOTP_SECRET))
    assert done.status_code == 200
    me = world.call("GET", "/me", headers=_bearer(done.json_body["access_token"])).json_body
    assert me["user"]["id"] == attacker.user.id and me["mfa"]["enrolled_at"] is not None


def test_a_first_password_session_does_not_answer_a_code(world, monkeypatch):
    world.deps.identity.create_user("novo@empresa.example", "Novo", "Temp#2026novo")
    session = _login(world, "novo@empresa.example", "Temp#2026novo").json_body["session"]
    asked, real = [], world.deps.identity.answer_mfa
    monkeypatch.setattr(world.deps.identity, "answer_mfa", lambda *a, **k: asked.append(a) or real(*a, **k))
    assert _error(_answer(world, "novo@empresa.example", session, "123456")) == (401, "invalid_mfa_session")
    assert asked == []


def test_an_enrolled_user_the_pool_lets_in_without_a_code_gets_no_tokens(world):
    # World's Master is enrolled on its record; the local pool has no TOTP for it (as after an
    # out-of-band change in the pool): the password alone must not open the account.
    org = world.organization()
    refused = _login(world, org.master.user.email)
    assert _error(refused) == (401, "mfa_not_in_force") and set(refused.json_body) == {"error"}


def test_an_operator_resets_a_lost_authenticator_audited_and_the_user_is_told(world):
    org = world.organization(mfa_enrolled=False)
    master = org.master
    world.enrol(master.headers)
    old_session = _answer(world, master.user.email, _login(world, master.user.email).json_body["session"],
                          totp_code(LOCAL_TOTP_SECRET)).json_body
    before = world.deps.users.get(master.user.id)
    operator = world.operator()

    reset = world.call("POST", f"/backoffice/users/{master.user.id}/mfa/reset", operator)
    assert reset.status_code == 200
    assert reset.json_body["mfa_enrolled_at"] is None and reset.json_body["version"] == before.version + 1
    assert world.deps.users.get(master.user.id).mfa_enrolled_at is None
    [entry] = _trail(world, org.id, "user.mfa_reset")
    assert (entry.actor_id, entry.target) == (operator.user.id, f"user:{master.user.id}")
    assert entry.before == {"mfa_enrolled_at": before.mfa_enrolled_at} and entry.after == {"mfa_enrolled_at": None}
    world.drain_queues()
    [told] = [m for m in world.outbox() if "redefinida" in m["Subject"]]
    assert told["To"] == master.user.email

    # The sessions it had are over: no refresh, and no enrolment of another phone with them.
    assert _error(world.call("POST", "/auth/refresh", body={"refresh_token": old_session["refresh_token"]})) == \
        (401, "invalid_refresh_token")
    assert _error(world.call("POST", "/auth/mfa/setup", headers=_bearer(old_session["access_token"]))) == \
        (401, "session_ended")
    # The next login asks no code, and the user must enrol again before anything else. (Token times
    # are whole seconds: one issued in the second of the reset is refused with the sessions it ended.)
    time.sleep(1.1)
    tokens = _login(world, master.user.email)
    assert tokens.status_code == 200 and "access_token" in tokens.json_body
    headers = _bearer(tokens.json_body["access_token"])
    assert _error(world.call("GET", "/subscriptions", headers=headers)) == (403, "mfa_enrolment_required")
    world.enrol(headers)
    assert _login(world, master.user.email).json_body["challenge"] == "SOFTWARE_TOKEN_MFA"

    again = world.call("POST", f"/backoffice/users/{operator.user.id}/mfa/reset", operator)
    assert _error(again) == (422, "mfa_reset_of_self")
    unknown = world.call("POST", "/backoffice/users/nao-existe/mfa/reset", operator)
    assert _error(unknown) == (404, "user_not_found")


def test_only_an_operator_resets_mfa_and_a_refusal_changes_nothing(world, strict):
    org = world.organization()
    adm = world.user(org.id, [Role.ADM])
    for who in (org.master, adm):
        refused = world.call("POST", f"/backoffice/users/{org.master.user.id}/mfa/reset", who)
        assert _error(refused) == (403, "forbidden")
    not_enrolled = world.call("POST", f"/backoffice/users/{adm.user.id}/mfa/reset", world.operator())
    assert _error(not_enrolled) == (409, "mfa_not_enrolled")
    assert world.deps.users.get(org.master.user.id).mfa_enrolled_at is not None
    assert _trail(world, org.id, "user.mfa_reset") == [] and strict.asked == []
    world.drain_queues()
    assert [m for m in world.outbox() if "redefinida" in m["Subject"]] == []


def test_an_optional_profile_may_turn_mfa_on(world, strict):
    org = world.organization()
    adm = world.user(org.id, [Role.ADM])
    secret = world.enrol(adm.headers)
    challenge = _login(world, adm.user.email).json_body
    assert challenge["challenge"] == "SOFTWARE_TOKEN_MFA"
    assert _answer(world, adm.user.email, challenge["session"], totp_code(secret)).status_code == 200


def test_wrong_codes_count_as_failed_logins_and_a_right_password_does_not_forget_them(world, strict, monkeypatch):
    """Six digits are a small space: guesses are throttled like passwords (tests/integration/
    test_sessions.py), and logging in again with the right password does not start the count over."""
    from datetime import datetime, timezone

    from chalicelib.domain.clock import FixedClock

    world.deps.clock = FixedClock(datetime.now(timezone.utc))
    org = world.organization(mfa_enrolled=False)
    email = org.master.user.email
    secret = world.enrol(org.master.headers)
    answered = []
    real = world.deps.identity.answer_mfa
    monkeypatch.setattr(world.deps.identity, "answer_mfa", lambda *a, **k: answered.append(a) or real(*a, **k))

    failures = 0
    while failures < 10:
        challenge = _login(world, email)  # the right password, every time
        if challenge.status_code == 429:
            world.deps.clock.advance(seconds=int(challenge.headers["Retry-After"]))
            continue
        wrong = _answer(world, email, challenge.json_body["session"], pyotp.TOTP(pyotp.random_base32()).now())
        if wrong.status_code == 429:
            world.deps.clock.advance(seconds=int(wrong.headers["Retry-After"]))
            continue
        assert _error(wrong) == (401, "mfa_code_mismatch")
        failures += 1
    assert len(answered) == 10

    # Locked: neither the password nor the right code gets in, and the identity provider is not asked.
    assert _error(_login(world, email)) == (429, "login_locked")
    world.deps.clock.advance(minutes=31)
    challenge = _login(world, email)
    tokens = _answer(world, email, challenge.json_body["session"], totp_code(secret))
    assert tokens.status_code == 200
    # The session handed out after the code refreshes (the product remembers it, as any login's).
    refreshed = world.call("POST", "/auth/refresh", body={"refresh_token": tokens.json_body["refresh_token"]})
    assert refreshed.status_code == 200
