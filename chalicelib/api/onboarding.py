"""The public contract request form, and the operators' back office for leads and customers."""
from chalice import Blueprint

from ..domain.contract import PAYMENT_METHODS
from ..domain.leads import CONVERTED as LEAD_CONVERTED
from ..domain.leads import STATUSES as LEAD_STATUSES
from ..domain.subscriptions import MIN_PURCHASE_QUANTITY
from ..domain.roles import Capability
from ..schemas import enum, shape, text
from ..services import onboarding
from ..services.onboarding import CUSTOMER_CREATED, LEAD_PAGE, NEXT_STEPS, ORGANIZATION_PAGE
from .http import endpoint, page
from .schema import integer, obj, quantity, sku, string

bp = Blueprint(__name__)

_EMAIL = string(max_length=254)
_CONTACTS = {"type": "array", "items": _EMAIL, "maxItems": 10, "uniqueItems": True}
CONTRACT_ITEMS = {"type": "array", "maxItems": 25,
          "items": obj(["sku", "quantity"], sku=sku(), quantity=quantity(MIN_PURCHASE_QUANTITY))}
_MASTER = obj(["email", "name"], email=_EMAIL, name=string(max_length=120))
_TERMS = dict(closing_day=integer(1, 28), payment_method={"type": "string", "enum": list(PAYMENT_METHODS)},
              billing_contacts=_CONTACTS, items=CONTRACT_ITEMS, master=_MASTER)

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
          body=obj(["closing_day", "payment_method", "master", "billing_contacts"],
                   **dict(_TERMS, billing_contacts=dict(_CONTACTS, minItems=1))), response=CUSTOMER_CREATED)
def convert_lead(ctx, lead_id):
    return onboarding.convert_lead(ctx.deps, ctx.caller, lead_id, closing_day=ctx.body["closing_day"],
                                   payment_method=ctx.body["payment_method"], master=ctx.body["master"],
                                   billing_contacts=ctx.body["billing_contacts"], items=ctx.body.get("items"))


@endpoint(bp, "/backoffice/organizations", "GET", summary="Clientes (operador)", capability=Capability.BACK_OFFICE,
          tag="backoffice", paginated=True, response=ORGANIZATION_PAGE)
def list_organizations(ctx):
    items, token = onboarding.list_organizations(ctx.deps, limit=ctx.limit(), next_token=ctx.next_token())
    return page([onboarding.organization_view(o) for o in items], token)


@endpoint(bp, "/backoffice/organizations", "POST", summary="Cadastrar um cliente diretamente (executivo de contas)",
          capability=Capability.BACK_OFFICE, tag="backoffice", status=201, idempotent=True,
          body=obj(["cnpj", "company_name", "closing_day", "payment_method", "master"],
                   cnpj=string(min_length=14, max_length=18), company_name=string(max_length=150),
                   tenant_domain=string(min_length=0, max_length=253), **_TERMS),
          response=CUSTOMER_CREATED)
def create_organization(ctx):
    body = ctx.body
    return onboarding.create_customer(
        ctx.deps, ctx.caller, name=body["company_name"], cnpj=body["cnpj"], closing_day=body["closing_day"],
        payment_method=body["payment_method"], billing_contacts=body.get("billing_contacts") or [],
        master=body["master"], items=body.get("items") or [], tenant_domain=body.get("tenant_domain") or None)
