"""Sign-in through Cognito, and the API's own verification of every token it is shown."""
import base64
import json
import time

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from moto.utilities.utils import load_resource

from datetime import timedelta

from chalicelib.domain.clock import FixedClock
from tests.support import PASSWORD, sp


def moto_signing_key():
    """The private key moto signs Cognito tokens with: lets a test mint tokens the JWKS accepts."""
    return jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(load_resource("cognitoidp/resources/jwks-private.json")))


def mint(claims, key=None, headers=None, algorithm="RS256"):
    return jwt.encode(claims, key or moto_signing_key(), algorithm=algorithm,
                      headers={"kid": "dummy", **(headers or {})})


def good_claims(deps, account, **overrides):
    now = int(time.time())
    claims = {"iss": deps.settings.token_issuer, "sub": account.user.id, "client_id": deps.settings.user_pool_client_id,
              "token_use": "access", "iat": now, "exp": now + 600, "username": account.user.id}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def hs256_by_hand(claims, secret: bytes) -> str:
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).decode().rstrip("=")

    signing_input = b64(json.dumps({"alg": "HS256", "kid": "dummy", "typ": "JWT"}).encode()) + "." + \
        b64(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def me_with(world, token):
    return world.call("GET", "/me", headers={"Authorization": f"Bearer {token}"})


def test_login_returns_cognito_tokens_that_open_the_api(world):
    org = world.organization(mfa_enrolled=False)  # /me is open before enrolment
    response = world.call("POST", "/auth/login", body={"email": org.master.user.email, "password": PASSWORD})
    assert response.status_code == 200
    tokens = response.json_body
    assert set(tokens) >= {"access_token", "id_token", "refresh_token", "expires_in"}
    assert me_with(world, tokens["access_token"]).json_body["user"]["id"] == org.master.user.id


def test_a_wrong_password_and_an_unknown_email_get_the_same_401(world):
    org = world.organization()
    wrong = world.call("POST", "/auth/login", body={"email": org.master.user.email, "password": "Errada#123456"})
    unknown = world.call("POST", "/auth/login", body={"email": "ninguem@x.example", "password": "Errada#123456"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json_body == unknown.json_body
    assert wrong.json_body["error"]["code"] == "invalid_credentials"


def test_refresh_gives_a_new_working_access_token(world):
    org = world.organization(mfa_enrolled=False)
    tokens = world.call("POST", "/auth/login", body={"email": org.master.user.email, "password": PASSWORD}).json_body
    refreshed = world.call("POST", "/auth/refresh", body={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    assert me_with(world, refreshed.json_body["access_token"]).status_code == 200
    bad = world.call("POST", "/auth/refresh", body={"refresh_token": "x" * 40})
    assert bad.status_code == 401


def test_a_token_minted_with_the_pool_key_and_good_claims_is_accepted(world):
    # The control for the attacks below: the minting itself is sound.
    org = world.organization()
    assert me_with(world, mint(good_claims(world.deps, org.master))).status_code == 200


@pytest.mark.parametrize("attack", [
    "missing", "garbage", "expired", "tampered_payload", "alg_none", "hs256_with_public_key",
    "foreign_signing_key", "foreign_issuer", "other_client", "id_token", "no_exp",
])
def test_every_bad_token_gets_401(world, attack):
    org = world.organization()
    deps = world.deps
    claims = good_claims(deps, org.master)
    if attack == "missing":
        response = world.call("GET", "/me")
        assert response.status_code == 401 and response.json_body["error"]["code"] == "missing_token"
        return
    if attack == "garbage":
        token = "not.a.jwt"
    elif attack == "expired":
        token = mint({**claims, "iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600})
    elif attack == "tampered_payload":
        header, payload, signature = org.master.token.split(".")
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        decoded["sub"] = "someone-else"
        forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).decode().rstrip("=")
        token = f"{header}.{forged}.{signature}"
    elif attack == "alg_none":
        token = jwt.encode(claims, None, algorithm="none", headers={"kid": "dummy"})
    elif attack == "hs256_with_public_key":
        # The classic confusion attack: HMAC keyed with the (public) RSA key, made by hand
        # because PyJWT itself refuses to produce it.
        from cryptography.hazmat.primitives import serialization
        public_pem = moto_signing_key().public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        token = hs256_by_hand(claims, public_pem)
    elif attack == "foreign_signing_key":
        token = mint(claims, key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    elif attack == "foreign_issuer":
        other_pool = boto3.client("cognito-idp", region_name=deps.settings.region).create_user_pool(
            PoolName="another")["UserPool"]["Id"]
        token = mint({**claims, "iss": f"https://cognito-idp.{deps.settings.region}.amazonaws.com/{other_pool}"})
    elif attack == "other_client":
        token = mint({**claims, "client_id": "another-client"})
    elif attack == "id_token":
        token = mint({**claims, "token_use": "id"})
    elif attack == "no_exp":
        token = mint({**claims, "exp": None})
    response = me_with(world, token)
    assert response.status_code == 401, attack
    assert response.json_body["error"]["code"] == "invalid_token"
    assert response.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_a_real_token_from_another_user_pool_is_refused(world):
    """A genuine Cognito token of a different pool (same moto key!) fails on the issuer."""
    deps = world.deps
    cognito = boto3.client("cognito-idp", region_name=deps.settings.region)
    pool = cognito.create_user_pool(PoolName="foreign", UsernameAttributes=["email"])["UserPool"]["Id"]
    app_client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="c",
                                                 ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"])["UserPoolClient"]
    cognito.admin_create_user(UserPoolId=pool, Username="x@foreign.example", TemporaryPassword="Temp#123456",
                              MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool, Username="x@foreign.example", Password=PASSWORD, Permanent=True)
    token = cognito.initiate_auth(ClientId=app_client["ClientId"], AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": "x@foreign.example", "PASSWORD": PASSWORD}
                                  )["AuthenticationResult"]["AccessToken"]
    assert me_with(world, token).status_code == 401


def test_the_authorization_header_must_be_a_bearer_token(world):
    org = world.organization()
    response = world.call("GET", "/me", headers={"Authorization": f"Basic {org.master.token}"})
    assert response.status_code == 401 and response.json_body["error"]["code"] == "missing_token"


def test_operators_may_act_on_a_customer_organisation_and_customers_may_not(world):
    org = world.organization()
    other = world.organization()
    operator = world.operator()
    as_operator = world.call("GET", "/users", operator, headers={"X-Organization-Id": org.id})
    assert as_operator.status_code == 200
    assert [u["id"] for u in as_operator.json_body["items"]] == [org.master.user.id]
    as_customer = world.call("GET", "/me", other.master, headers={"X-Organization-Id": org.id})
    assert as_customer.status_code == 404
    unknown = world.call("GET", "/users", operator, headers={"X-Organization-Id": "nao-existe"})
    assert unknown.status_code == 404


def test_login_validates_its_input(world):
    response = world.call("POST", "/auth/login", body={"email": "x@y.example"})
    assert response.status_code == 400 and response.json_body["error"]["details"]["field"] == "password"
    short_session = world.call("POST", "/auth/new-password",
                               body={"email": "x@y.example", "session": "abc", "new_password": "Abc#123456"})
    assert short_session.status_code == 400


def test_first_password_that_breaks_the_policy_is_a_clear_400(world):
    deps = world.deps
    deps.identity.create_user("novo@empresa.example", "Novo", "Temp#2026abcd")
    challenge = world.call("POST", "/auth/login", body={"email": "novo@empresa.example", "password": "Temp#2026abcd"})
    assert challenge.json_body["challenge"] == "NEW_PASSWORD_REQUIRED"
    weak = world.call("POST", "/auth/new-password", body={
        "email": "novo@empresa.example", "session": challenge.json_body["session"], "new_password": "curta"})
    assert weak.status_code == 400 and weak.json_body["error"]["code"] == "weak_password"


def _first_password(world, email, session, new_password):
    return world.call("POST", "/auth/new-password", body={"email": email, "session": session,
                                                          "new_password": new_password})


def _login(world, email, password):
    return world.call("POST", "/auth/login", body={"email": email, "password": password})


def test_a_first_password_session_answers_only_for_the_user_whose_login_started_it(world, monkeypatch):
    identity = world.deps.identity
    identity.create_user("vitima@empresa.example", "Vítima", "Temp#2026vitima")
    own = _login(world, "vitima@empresa.example", "Temp#2026vitima").json_body["session"]
    assert _first_password(world, "vitima@empresa.example", own, "Vitima#Senha2026").status_code == 200
    identity.create_user("novo@outra.example", "Novo", "Temp#2026novo")
    session = _login(world, "novo@outra.example", "Temp#2026novo").json_body["session"]
    asked = []
    real = identity.complete_new_password
    monkeypatch.setattr(identity, "complete_new_password", lambda *a, **k: asked.append(a) or real(*a, **k))

    # The invited user's session, sent with someone else's email: refused before Cognito is asked.
    takeover = _first_password(world, "Vitima@Empresa.example", session, "Hack#Senha2026")
    assert (takeover.status_code, takeover.json_body["error"]["code"]) == (401, "invalid_session")
    assert set(takeover.json_body) == {"error"} and asked == []
    # Nothing changed for the victim: its password still works, the attacker's does not.
    assert _login(world, "vitima@empresa.example", "Vitima#Senha2026").status_code == 200
    assert _login(world, "vitima@empresa.example", "Hack#Senha2026").status_code == 401
    # A session no login issued is refused too.
    forged = _first_password(world, "novo@outra.example", "x" * 40, "Nova#Senha2026")
    assert (forged.status_code, forged.json_body["error"]["code"]) == (401, "invalid_session") and asked == []

    # The session still serves the user it was issued to, once.
    done = _first_password(world, "novo@outra.example", session, "Nova#Senha2026")
    assert done.status_code == 200 and "access_token" in done.json_body
    again = _first_password(world, "novo@outra.example", session, "Outra#Senha2026")
    assert (again.status_code, again.json_body["error"]["code"]) == (401, "invalid_session")


def test_a_first_password_challenge_expires_with_its_binding(world):
    clock = world.deps.clock = FixedClock(sp(2026, 11, 11))
    world.deps.identity.create_user("tarde@empresa.example", "Tarde", "Temp#2026tarde")
    session = _login(world, "tarde@empresa.example", "Temp#2026tarde").json_body["session"]
    clock.now = clock.now + timedelta(minutes=16)
    late = _first_password(world, "tarde@empresa.example", session, "Nova#Senha2026")
    assert (late.status_code, late.json_body["error"]["code"]) == (401, "invalid_session")


@pytest.mark.parametrize("path,body", [
    ("/auth/login", {"email": "\ud800@empresa.example", "password": "x"}),
    ("/auth/refresh", {"refresh_token": "a" * 30 + "\udfff"}),
    ("/auth/logout", {"refresh_token": "a" * 30 + "\ud800"}),
    ("/auth/mfa", {"email": "a@b.example", "session": "s" * 30 + "\ud800", "code": "123456"}),
])
def test_a_lone_surrogate_in_a_sign_in_field_is_a_400_not_a_500(world, path, body):
    """JSON may carry "\\ud800": no text holds it, and hashing or mailing it would fail later."""
    response = world.call("POST", path, body=body)
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "invalid_characters"
