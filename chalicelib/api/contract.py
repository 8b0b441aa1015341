"""The organisation's contract: its view, the Master's acceptance, its billing contacts, its rescission."""
from chalice import Blueprint

from ..domain.contract import PAYMENT_METHODS
from ..domain.roles import Capability
from ..services import contract_document, contracts, mail_events, rescission
from ..services.contracts import CONTRACT
from ..services.rescission import TERMINATION
from .http import endpoint
from .onboarding import CONTRACT_ITEMS
from .schema import integer, obj, string

# Who receives invoices and boletos: addresses the domain normalises and checks (contract.py).
BILLING_CONTACTS = {"type": "array", "items": string(max_length=254, format="email"), "minItems": 1, "maxItems": 10,
                    "uniqueItems": True}

bp = Blueprint(__name__)


def _view(ctx, contract):
    view = contracts.contract_view(contract)
    view["current_document_version"] = ctx.deps.settings.contract_version
    view["undeliverable_contacts"] = contracts.undeliverable_contacts(ctx.deps, ctx.caller, contract)
    return view


@endpoint(bp, "/contract", "GET", summary="O contrato da organização", capability=Capability.USE_PORTAL,
          tag="contract", response=CONTRACT)
def get_contract(ctx):
    return _view(ctx, contracts.get_contract(ctx.deps, ctx.caller))


@endpoint(bp, "/contract/document", "GET",
          summary="O texto do contrato (versão que o aceite registra), com os itens e preços, e o seu PDF",
          capability=Capability.USE_PORTAL, tag="contract", response=contract_document.CONTRACT_DOCUMENT)
def get_contract_document(ctx):
    return contract_document.document(ctx.deps, ctx.caller)


@endpoint(bp, "/contract/accept", "POST", summary="Aceite do contrato (Master): contrata os itens do contrato",
          capability=Capability.ACCEPT_CONTRACT, tag="contract", if_match=True, response=CONTRACT,
          # Optional: the text's version the user read; another current version is 409 `contract_version_changed`.
          body=obj([], document_version=string(max_length=40)))
def accept_contract(ctx):
    return _view(ctx, contracts.accept_contract(ctx.deps, ctx.caller, expected_version=ctx.if_match(),
                                                document_version=ctx.body.get("document_version")))


@endpoint(bp, "/contract", "PATCH", summary="Altera os contatos de cobrança (Master, Cobrança)",
          capability=Capability.BILLING, tag="contract", if_match=True,
          body=obj(["billing_contacts"], billing_contacts=BILLING_CONTACTS), response=CONTRACT)
def change_contract(ctx):
    return _view(ctx, contracts.change_billing_contacts(ctx.deps, ctx.caller, contacts=ctx.body["billing_contacts"],
                                                        expected_version=ctx.if_match()))


@endpoint(bp, "/contract/terminate", "POST", summary="Rescisão do contrato (todas as assinaturas a zero)",
          capability=Capability.CANCEL_SERVICES, tag="contract", status=202, idempotent=True,
          body=obj([], reason_text=string(min_length=0, max_length=1000)), response=TERMINATION)
def terminate_contract(ctx):
    return rescission.terminate_contract(ctx.deps, ctx.caller, reason_text=ctx.body.get("reason_text"))


@endpoint(bp, "/backoffice/organizations/{organization_id}/contract", "PATCH",
          summary="Altera forma de pagamento, dia de fechamento (a partir do próximo período) e itens (até o aceite) "
                  "de um contrato (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", if_match=True,
          body=obj([], payment_method={"type": "string", "enum": list(PAYMENT_METHODS)},
                   closing_day=integer(1, 28), items=CONTRACT_ITEMS, expected_version=integer(1, 2 ** 31)),
          response=CONTRACT)
def change_contract_terms(ctx, organization_id):
    body = ctx.body
    expected = body.get("expected_version")
    return _view(ctx, contracts.change_terms(
        ctx.deps, ctx.caller, organization_id, payment_method=body.get("payment_method"),
        closing_day=body.get("closing_day"), items=body.get("items"),
        expected_version=expected if expected is not None else ctx.if_match()))


@endpoint(bp, "/backoffice/suppressed-addresses/{email}", "DELETE",
          summary="Voltar a enviar e-mails a um endereço suspenso por bounce ou reclamação (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", status=204, errors=(400, 404),
          path_params={"email": string(max_length=254)})
def lift_suppression(ctx, email):
    # No list of the suppressed addresses: they are kept by the address's hash (pattern 55), and a
    # list would scan the table; the operators learn of each one by email when it is suppressed.
    mail_events.lift_suppression(ctx.deps, ctx.caller, email)
