"""/me and the organisation's portal users (Master; operators for a chosen organisation)."""
from chalice import Blueprint

from ..domain.roles import Capability, Role
from ..schemas import page as page_of
from ..services import subscriptions, users
from ..services.users import ME, USER
from .http import endpoint, page
from .schema import obj, string

bp = Blueprint(__name__)

_ROLES = {"type": "array", "minItems": 1, "maxItems": 5, "uniqueItems": True,
          "items": {"type": "string", "enum": [r.value for r in Role]}}

USER_PAGE = page_of(USER, "User")


@endpoint(bp, "/me", "GET", summary="O usuário autenticado, sua organização e perfis",
          capability=Capability.USE_PORTAL, tag="users", response=ME, before_mfa_enrolment=True)
def me(ctx):
    # The rules the portal applies as the user types are served, not copied into app.js.
    return {**users.me(ctx.deps, ctx.caller), "limits": subscriptions.limits_view(ctx.deps.settings.quantity_limits)}


@endpoint(bp, "/users", "GET", summary="Usuários do portal da organização", capability=Capability.MANAGE_USERS,
          tag="users", paginated=True, response=USER_PAGE)
def list_users(ctx):
    items, token = users.list_users(ctx.deps, ctx.caller, limit=ctx.limit(), next_token=ctx.next_token())
    return page([users.user_view(u) for u in items], token)


@endpoint(bp, "/users", "POST", summary="Convidar um usuário (e-mail de boas-vindas)",
          capability=Capability.MANAGE_USERS, tag="users", status=201, idempotent=True,
          body=obj(["email", "name", "roles"], email=string(max_length=254), name=string(max_length=120),
                   roles=_ROLES), response=USER)
def invite_user(ctx):
    user = users.invite_user(ctx.deps, ctx.caller, email=ctx.body["email"], name=ctx.body["name"],
                             roles=ctx.body["roles"])
    return users.user_view(user)


@endpoint(bp, "/users/{user_id}", "GET", summary="Um usuário da organização", capability=Capability.MANAGE_USERS,
          tag="users", response=USER)
def get_user(ctx, user_id):
    return users.user_view(users.get_user(ctx.deps, ctx.caller, user_id))


@endpoint(bp, "/users/{user_id}", "PATCH", summary="Alterar os perfis de um usuário",
          capability=Capability.MANAGE_USERS, tag="users", if_match=True, body=obj(["roles"], roles=_ROLES),
          response=USER)
def change_roles(ctx, user_id):
    user = users.change_roles(ctx.deps, ctx.caller, user_id, roles=ctx.body["roles"],
                              expected_version=ctx.if_match())
    return users.user_view(user)


@endpoint(bp, "/users/{user_id}", "DELETE", summary="Remover um usuário", capability=Capability.MANAGE_USERS,
          tag="users", status=204)
def remove_user(ctx, user_id):
    users.remove_user(ctx.deps, ctx.caller, user_id)
