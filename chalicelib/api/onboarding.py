"""The public contract request form, and the operators' back office for leads and customers."""
from chalice import Blueprint

from ..domain.addresses import MAX_LENGTHS as ADDRESS_LENGTHS
from ..domain.contract import PAYMENT_METHODS
from ..domain.leads import CONVERTED as LEAD_CONVERTED
from ..domain.leads import STATUSES as LEAD_STATUSES
from ..domain.subscriptions import MIN_PURCHASE_QUANTITY
from ..domain.roles import Capability
from ..schemas import enum, shape, text
from ..services import onboarding
from ..services.onboarding import CUSTOMER_CREATED, LEAD_PAGE, NEXT_STEPS, ORGANIZATION, ORGANIZATION_PAGE
from .http import endpoint, page
from .schema import integer, obj, quantity, sku, string

bp = Blueprint(__name__)

_EMAIL = string(max_length=254)
_CONTACTS = {"type": "array", "items": _EMAIL, "maxItems": 10, "uniqueItems": True}
CONTRACT_ITEMS = {"type": "array", "maxItems": 25,
          "items": obj(["sku", "quantity"], sku=sku(), quantity=quantity(MIN_PURCHASE_QUANTITY))}
_MASTER = obj(["email", "name"], email=_EMAIL, name=string(max_length=120))
# The customer's address, the NFS-e taker's. The schema checks types and lengths; which fields are
# required and what they hold (CEP, the IBGE code, a UF or city name that is the code's) is
# `domain.addresses.normalize_address`'s: one code, `invalid_address` (422), naming the field.
ADDRESS_BODY = {"type": "object", "required": [], "additionalProperties": False,
           "description": "Obrigatórios: cep (8 dígitos; 01310-100 aceito), street, number (ou S/N), district e "
                          "city_code (código IBGE do município, 7 dígitos). Opcionais: complement; state e city, "
                          "que, se enviados, precisam ser os do código (o nome guardado é o do IBGE).",
           "properties": dict(cep=string(0, 10), street=string(0, ADDRESS_LENGTHS["street"]),
                              number=string(0, ADDRESS_LENGTHS["number"]),
                              complement=string(0, ADDRESS_LENGTHS["complement"]),
                              district=string(0, ADDRESS_LENGTHS["district"]), city_code=string(0, 7),
                              state=string(0, 2), city=string(0, 100))}
_TERMS = dict(closing_day=integer(1, 28), payment_method={"type": "string", "enum": list(PAYMENT_METHODS)},
              billing_contacts=_CONTACTS, items=CONTRACT_ITEMS, master=_MASTER, address=ADDRESS_BODY)

# 201, the same shape and the same confirmation email, whether the CNPJ is new, asked before or is
# already a customer: the public form reveals nothing about a CNPJ (its first request is kept).
LEAD_SUBMISSION = shape("LeadSubmission", description="A solicitação recebida e o que acontece agora.",
                        id=text(), status=enum([s for s in LEAD_STATUSES if s != LEAD_CONVERTED]),
                        next_steps=NEXT_STEPS)


@endpoint(bp, "/leads", "POST", summary="Formulário de contratação (público)", capability=None, tag="public",
          status=201, body=obj(
              ["cnpj", "company_name", "contact_name", "email", "phone", "existing_microsoft_customer"],
              cnpj=string(min_length=14, max_length=18), company_name=string(max_length=150),
              contact_name=string(max_length=120), email=_EMAIL, phone=string(min_length=8, max_length=25),
              products_of_interest={"type": "array", "items": sku(), "maxItems": 30},
              existing_microsoft_customer={"type": "boolean"}, tenant_domain=string(min_length=0, max_length=253),
              website=string(min_length=0, max_length=200)),
          response=LEAD_SUBMISSION)
def submit_lead(ctx):
    submitted = onboarding.submit_lead(ctx.deps, ctx.body, ctx.source_ip)
    return {"id": submitted.lead.id, "status": submitted.lead.status, "next_steps": submitted.next_steps}


@endpoint(bp, "/backoffice/leads", "GET", summary="Solicitações de contratação (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", paginated=True, response=LEAD_PAGE)
def list_leads(ctx):
    items, token = onboarding.list_leads(ctx.deps, limit=ctx.limit(), next_token=ctx.next_token())
    return page([onboarding.lead_view(lead) for lead in items], token)


@endpoint(bp, "/backoffice/leads/{lead_id}/convert", "POST",
          summary="Converter a solicitação em cliente: organização, contrato e Master",
          capability=Capability.BACK_OFFICE, tag="backoffice", status=201, idempotent=True,
          # The billing contacts are the operator's to confirm: the lead's email is whoever filled the
          # form, not necessarily the company (its view offers that email as a suggestion).
          body=obj(["closing_day", "payment_method", "master", "billing_contacts", "address"],
                   **dict(_TERMS, billing_contacts=dict(_CONTACTS, minItems=1))), response=CUSTOMER_CREATED)
def convert_lead(ctx, lead_id):
    return onboarding.convert_lead(ctx.deps, ctx.caller, lead_id, closing_day=ctx.body["closing_day"],
                                   payment_method=ctx.body["payment_method"], master=ctx.body["master"],
                                   billing_contacts=ctx.body["billing_contacts"], address=ctx.body["address"],
                                   items=ctx.body.get("items"))


@endpoint(bp, "/backoffice/organizations", "GET", summary="Clientes (operador)", capability=Capability.BACK_OFFICE,
          tag="backoffice", paginated=True, response=ORGANIZATION_PAGE)
def list_organizations(ctx):
    items, token = onboarding.list_organizations(ctx.deps, limit=ctx.limit(), next_token=ctx.next_token())
    return page([onboarding.organization_view(o) for o in items], token)


@endpoint(bp, "/backoffice/organizations", "POST", summary="Cadastrar um cliente diretamente (executivo de contas)",
          capability=Capability.BACK_OFFICE, tag="backoffice", status=201, idempotent=True,
          body=obj(["cnpj", "company_name", "closing_day", "payment_method", "master", "address"],
                   cnpj=string(min_length=14, max_length=18), company_name=string(max_length=150),
                   tenant_domain=string(min_length=0, max_length=253), existing_microsoft_customer={"type": "boolean"},
                   **_TERMS),
          response=CUSTOMER_CREATED)
def create_organization(ctx):
    body = ctx.body
    return onboarding.create_customer(
        ctx.deps, ctx.caller, name=body["company_name"], cnpj=body["cnpj"], closing_day=body["closing_day"],
        payment_method=body["payment_method"], billing_contacts=body.get("billing_contacts") or [],
        master=body["master"], address=body["address"], items=body.get("items") or [],
        tenant_domain=body.get("tenant_domain") or None,
        existing_microsoft_customer=body.get("existing_microsoft_customer"))


@endpoint(bp, "/backoffice/organizations/{organization_id}", "GET", summary="Um cliente (operador)",
          capability=Capability.BACK_OFFICE, tag="backoffice", response=ORGANIZATION)
def get_organization(ctx, organization_id):
    return onboarding.organization_view(onboarding.get_organization(ctx.deps, organization_id))


@endpoint(bp, "/backoffice/organizations/{organization_id}/address", "PUT",
          summary="Completar ou corrigir o endereço de um cliente (o do tomador na NFS-e)",
          capability=Capability.BACK_OFFICE, tag="backoffice", if_match=True, body=ADDRESS_BODY, response=ORGANIZATION)
def change_address(ctx, organization_id):
    return onboarding.organization_view(onboarding.change_address(
        ctx.deps, ctx.caller, organization_id, ctx.body, expected_version=ctx.if_match()))
