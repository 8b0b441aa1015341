"""Sign-in routes: login, first password, refresh, logout, password change (Cognito behind the identity adapter)."""
from chalice import Blueprint

from ..domain.roles import Capability
from ..services import auth, sessions
from ..services.auth import NEW_PASSWORD_CHALLENGE, TOKENS
from ..services.mfa import MFA_CHALLENGE
from .http import endpoint
from .schema import obj, string

bp = Blueprint(__name__)

_EMAIL = string(max_length=254)
_PASSWORD = string(max_length=256)


@endpoint(bp, "/auth/login", "POST", summary="Entrar com e-mail e senha", capability=None, tag="auth", errors=(401,),
          body=obj(["email", "password"], email=_EMAIL, password=_PASSWORD),
          response={"oneOf": [TOKENS, NEW_PASSWORD_CHALLENGE, MFA_CHALLENGE]})
def login(ctx):
    return auth.login(ctx.deps, email=ctx.body["email"], password=ctx.body["password"], source_ip=ctx.source_ip)


@endpoint(bp, "/auth/new-password", "POST", summary="Definir a senha no primeiro acesso", capability=None,
          tag="auth", errors=(401,), body=obj(["email", "session", "new_password"], email=_EMAIL,
                               session=string(min_length=20, max_length=4096), new_password=_PASSWORD),
          response=TOKENS)
def new_password(ctx):
    return auth.set_first_password(ctx.deps, email=ctx.body["email"], session=ctx.body["session"],
                                   new_password=ctx.body["new_password"])


@endpoint(bp, "/auth/refresh", "POST", summary="Renovar os tokens", capability=None, tag="auth", errors=(401,),
          body=obj(["refresh_token"], refresh_token=string(min_length=20, max_length=8192)), response=TOKENS)
def refresh(ctx):
    return auth.refresh(ctx.deps, refresh_token=ctx.body["refresh_token"])


@endpoint(bp, "/auth/logout", "POST", summary="Sair: encerrar a sessão", capability=None, tag="auth", status=204,
          body=obj(["refresh_token"], refresh_token=string(min_length=20, max_length=8192)))
def logout(ctx):
    """The session of this refresh token ends: it no longer refreshes, and its access tokens open
    nothing. The same 204 for a token that opened nothing."""
    sessions.logout(ctx.deps, refresh_token=ctx.body["refresh_token"])


@endpoint(bp, "/auth/password", "POST", summary="Trocar a própria senha", capability=Capability.USE_PORTAL,
          tag="auth", status=204, before_mfa_enrolment=True, body=obj(["current_password", "new_password"], current_password=_PASSWORD,
                                            new_password=_PASSWORD))
def change_password(ctx):
    """Every session of the user ends, this one too: the portal asks for the new password."""
    sessions.change_password(ctx.deps, ctx.caller, access_token=ctx.headers["authorization"][7:].strip(),
                             current_password=ctx.body["current_password"], new_password=ctx.body["new_password"])
