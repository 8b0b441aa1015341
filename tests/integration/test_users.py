"""The Master manages the organisation's portal users; invitations arrive as pt-BR emails."""
from chalicelib.domain.roles import Role
from tests.support import body_html, body_text


def invite(world, account, email="nova@empresa.example", roles=("suporte",), name="Nova Pessoa", headers=None):
    return world.call("POST", "/users", account, {"email": email, "name": name, "roles": list(roles)},
                      headers=headers)


def test_master_invites_a_user_who_receives_a_ptbr_welcome_email_with_a_temporary_password(world):
    org = world.organization()
    response = invite(world, org.master, email="Nova@Empresa.example")
    assert response.status_code == 201
    created = response.json_body
    assert created["email"] == "nova@empresa.example"
    assert created["roles"] == ["suporte"] and created["status"] == "invited"

    assert world.drain_queues() == 1
    [message] = world.outbox()
    assert message["To"] == "nova@empresa.example"
    assert "Seu acesso ao Portal Brasoftware Cloud" in message["Subject"]
    text = body_text(message)
    assert "Olá, Nova Pessoa!" in text
    assert "login nova@empresa.example" in text
    assert "No primeiro acesso, o portal pedirá que você defina a sua própria senha" in text
    assert "Microsoft 365 E3: 10" in text  # the contracted items
    assert "https://admin.microsoft.com" in text  # Office 365 admin portal
    assert "com o(s) perfil(is): Suporte." in text
    assert "Microsoft 365 E3" in body_html(message)

    # The temporary password in the email works once, and asks for a new one.
    password = text.split("senha temporária: ")[1].split()[0]
    login = world.call("POST", "/auth/login", body={"email": "nova@empresa.example", "password": password})
    assert login.status_code == 200 and login.json_body["challenge"] == "NEW_PASSWORD_REQUIRED"


def test_the_invited_user_sets_a_password_then_is_active_and_sees_only_their_profile(world):
    org = world.organization()
    invite(world, org.master, email="cobra@empresa.example", roles=["cobranca"])
    world.drain_queues()
    password = body_text(world.outbox()[0]).split("senha temporária: ")[1].split()[0]
    challenge = world.call("POST", "/auth/login", body={"email": "cobra@empresa.example", "password": password})
    tokens = world.call("POST", "/auth/new-password", body={
        "email": "cobra@empresa.example", "session": challenge.json_body["session"],
        "new_password": "Minha#Senha2026"}).json_body
    me = world.call("GET", "/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json_body["user"]["status"] == "active"
    assert me.json_body["roles"] == ["cobranca"]
    assert me.json_body["organization"]["id"] == org.id
    assert "manage_users" not in me.json_body["capabilities"]


def test_a_repeated_invitation_with_the_same_idempotency_key_creates_one_user_and_one_email(world):
    org = world.organization()
    key = {"Idempotency-Key": "convite-123"}
    first = invite(world, org.master, headers=key)
    second = invite(world, org.master, headers=key)
    assert first.status_code == second.status_code == 201
    assert second.json_body == first.json_body
    assert second.headers.get("Idempotent-Replayed") == "true"
    listed = world.call("GET", "/users", org.master).json_body["items"]
    assert [u["email"] for u in listed].count("nova@empresa.example") == 1
    world.drain_queues()
    assert len(world.outbox()) == 1


def test_an_idempotency_key_reused_with_another_body_is_refused(world):
    org = world.organization()
    invite(world, org.master, headers={"Idempotency-Key": "k1"})
    other = invite(world, org.master, email="outra@empresa.example", headers={"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert other.json_body["error"]["code"] == "idempotency_key_reused"


def test_inviting_an_email_already_in_use_is_a_conflict_and_writes_nothing(world):
    org = world.organization()
    invite(world, org.master)
    again = invite(world, org.master, roles=["adm"])
    assert again.status_code == 409 and again.json_body["error"]["code"] == "email_in_use"
    users = world.call("GET", "/users", org.master).json_body["items"]
    assert len([u for u in users if u["email"] == "nova@empresa.example"]) == 1


def test_bad_invitations_get_a_clear_error_per_field_and_write_nothing(world):
    org = world.organization()
    cases = [
        ({"email": "sem-arroba", "name": "X", "roles": ["adm"]}, 400, "invalid_email"),
        ({"email": "a@b.example", "name": "X", "roles": []}, 400, "too_few_items"),
        ({"email": "a@b.example", "name": "X", "roles": ["chefe"]}, 400, "invalid_value"),
        ({"email": "a@b.example", "name": "X", "roles": ["operator"]}, 422, "role_not_allowed"),
        ({"email": "a@b.example", "name": "   ", "roles": ["adm"]}, 400, "required"),
        ({"email": "a@b.example", "roles": ["adm"]}, 400, "required"),
        ({"email": "a@b.example", "name": "X", "roles": ["adm"], "admin": True}, 400, "unknown_field"),
        ({"email": "a@b.example", "name": "X" * 121, "roles": ["adm"]}, 400, "too_long"),
    ]
    for body, status, code in cases:
        response = world.call("POST", "/users", org.master, body)
        assert (response.status_code, response.json_body["error"]["code"]) == (status, code), body
    users = world.call("GET", "/users", org.master).json_body["items"]
    assert [u["email"] for u in users] == [org.master.user.email]
    assert world.drain_queues() == 0


def test_master_changes_profiles_with_if_match_and_a_stale_version_gets_409(world):
    org = world.organization()
    adm = world.user(org.id, [Role.ADM])
    changed = world.call("PATCH", f"/users/{adm.user.id}", org.master, {"roles": ["adm", "cobranca"]},
                         headers={"If-Match": "1"})
    assert changed.status_code == 200
    assert changed.json_body["roles"] == ["adm", "cobranca"] and changed.json_body["version"] == 2
    stale = world.call("PATCH", f"/users/{adm.user.id}", org.master, {"roles": ["suporte"]},
                       headers={"If-Match": "1"})
    assert stale.status_code == 409 and stale.json_body["error"]["code"] == "version_conflict"
    assert world.call("GET", f"/users/{adm.user.id}", org.master).json_body["roles"] == ["adm", "cobranca"]
    # The new profile takes effect on the next request, without a new login.
    assert world.call("GET", "/me", adm).json_body["roles"] == ["adm", "cobranca"]


def test_the_last_master_can_neither_be_removed_nor_demoted(world):
    org = world.organization()
    demote = world.call("PATCH", f"/users/{org.master.user.id}", org.master, {"roles": ["adm"]})
    assert demote.status_code == 422 and demote.json_body["error"]["code"] == "last_master"
    remove = world.call("DELETE", f"/users/{org.master.user.id}", org.master)
    assert remove.status_code == 422 and remove.json_body["error"]["code"] == "last_master"
    assert world.call("GET", "/me", org.master).json_body["roles"] == ["master"]


def test_with_a_second_master_the_first_may_be_removed_and_then_the_second_is_the_last(world):
    org = world.organization()
    second = world.user(org.id, [Role.MASTER])
    assert world.call("DELETE", f"/users/{org.master.user.id}", second).status_code == 204
    assert world.call("GET", "/me", org.master).status_code == 401  # removed: the token opens nothing
    last = world.call("DELETE", f"/users/{second.user.id}", second)
    assert last.status_code == 422 and last.json_body["error"]["code"] == "last_master"


def test_a_removed_user_loses_access_at_once(world):
    org = world.organization()
    support = world.user(org.id, [Role.SUPORTE])
    assert world.call("GET", "/me", support).status_code == 200
    assert world.call("DELETE", f"/users/{support.user.id}", org.master).status_code == 204
    response = world.call("GET", "/me", support)
    assert response.status_code == 401 and response.json_body["error"]["code"] == "unknown_user"
    assert world.call("GET", f"/users/{support.user.id}", org.master).status_code == 404


def test_users_list_pages_with_next_token(world):
    org = world.organization()
    for _ in range(4):
        world.user(org.id, [Role.SUPORTE])
    seen, token, pages = [], None, 0
    while True:
        path = "/users?limit=2" + (f"&next_token={token}" if token else "")
        body = world.call("GET", path, org.master).json_body
        seen += [u["id"] for u in body["items"]]
        pages += 1
        token = body["next_token"]
        if not token:
            break
    assert len(seen) == len(set(seen)) == 5
    assert pages >= 3


def test_a_concurrent_change_caught_by_the_database_is_409_not_500(world, monkeypatch):
    """The service's own read saw version 1; the table holds version 2: the condition decides."""
    org = world.organization()
    adm = world.user(org.id, [Role.ADM])
    stale = world.deps.users.get(adm.user.id)
    assert world.call("PATCH", f"/users/{adm.user.id}", org.master, {"roles": ["cobranca"]}).status_code == 200
    monkeypatch.setattr(world.deps.users, "get_in_organization", lambda org_id, user_id: stale)
    response = world.call("PATCH", f"/users/{adm.user.id}", org.master, {"roles": ["suporte"]})
    assert response.status_code == 409 and response.json_body["error"]["code"] == "version_conflict"


def test_two_masters_removing_each_other_at_once_leave_one_master(world, monkeypatch):
    """Both requests read "two Masters"; the counter's condition lets only one removal through."""
    from dataclasses import replace

    org = world.organization()
    second = world.user(org.id, [Role.MASTER])
    two_masters = world.deps.organizations.get(org.id)
    assert world.call("DELETE", f"/users/{second.user.id}", org.master).status_code == 204
    monkeypatch.setattr(world.deps.organizations, "get", lambda org_id: replace(two_masters))
    response = world.call("DELETE", f"/users/{org.master.user.id}", org.master)
    assert response.status_code == 422 and response.json_body["error"]["code"] == "last_master"
    monkeypatch.undo()
    assert world.call("GET", "/me", org.master).status_code == 200  # still there, login included
