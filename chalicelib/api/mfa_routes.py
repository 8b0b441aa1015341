"""Two-step sign-in (TOTP): the login's code, the user's own enrolment, an operator's reset."""
from chalice import Blueprint

from ..domain.roles import Capability
from ..services import auth, mfa, users
from ..services.auth import TOKENS
from ..services.mfa import MFA_SETUP
from ..services.users import USER
from .http import endpoint
from .schema import obj, string

bp = Blueprint(__name__)

# Validated as six digits by the use case, which answers its own clear message (and a login's 401).
_CODE = string(min_length=1, max_length=16)


@endpoint(bp, "/auth/mfa", "POST", summary="Entrar: o código do aplicativo autenticador", capability=None,
          tag="auth", errors=(401,), body=obj(["email", "session", "code"], email=string(max_length=254),
                                              session=string(min_length=20, max_length=4096), code=_CODE),
          response=TOKENS)
def answer_challenge(ctx):
    return auth.answer_mfa(ctx.deps, email=ctx.body["email"], session=ctx.body["session"], code=ctx.body["code"],
                           source_ip=ctx.source_ip)


@endpoint(bp, "/auth/mfa/setup", "POST", summary="Cadastrar o aplicativo autenticador: o segredo",
          capability=Capability.USE_PORTAL, tag="auth", before_mfa_enrolment=True, response=MFA_SETUP)
def start_enrolment(ctx):
    return mfa.start_enrolment(ctx.deps, ctx.caller, ctx.access_token())


@endpoint(bp, "/auth/mfa/verify", "POST", summary="Cadastrar o aplicativo autenticador: o primeiro código",
          capability=Capability.USE_PORTAL, tag="auth", before_mfa_enrolment=True,
          body=obj(["code"], code=_CODE), response=USER)
def confirm_enrolment(ctx):
    return users.user_view(mfa.confirm_enrolment(ctx.deps, ctx.caller, ctx.access_token(), ctx.body["code"]))


@endpoint(bp, "/backoffice/users/{user_id}/mfa/reset", "POST",
          summary="Redefinir a verificação em duas etapas de um usuário (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", if_match=True, response=USER)
def reset(ctx, user_id):
    return users.user_view(mfa.reset(ctx.deps, ctx.caller, user_id, expected_version=ctx.if_match()))
