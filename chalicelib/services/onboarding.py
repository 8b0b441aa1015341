"""Contracting: the public request form (leads), and the operators' onboarding of a customer —
organisation, contract and first Master, who gets the welcome email."""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Protocol

from ..domain import contract as contract_rules
from ..domain.addresses import normalize_address
from ..domain import error_codes as codes
from ..domain import leads as lead_rules
from ..domain import users as user_rules
from ..domain.contract import AWAITING_ACCEPTANCE, Contract
from ..domain.ids import new_id
from ..domain.leads import Lead
from ..domain.organizations import Organization, format_cnpj, normalize_cnpj
from ..domain.roles import Role
from ..domain.users import User
from ..domain.clock import iso
from ..schemas import array, boolean, closed, component, date_time, enum, integer, nullable, page, ref, shape, text
from . import audit, notifications, users as user_service
from .addresses import ADDRESS, address_view
from .contracts import contract_items
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.identity import CognitoIdentity
    from ..settings import Settings
    from ..storage.repositories import CatalogRepository, OrganizationRepository
    from ..storage.support import LeadRepository, RateLimiter
    from .audit import Clocked
    from .contracts import ContractItemsDeps
    from .notifications import QueuesEmails
    from .users import WelcomeEmailDeps

    class LeadFormDeps(Clocked, QueuesEmails, Protocol):
        """The public form: rate-limited per address, products checked against the catalog, one lead
        per CNPJ, the sender and the operators emailed."""

        settings: Settings
        catalog: CatalogRepository
        leads: LeadRepository
        rate_limiter: RateLimiter

    class BackOfficeListDeps(Protocol):
        """The operators' lists of leads and customers."""

        leads: LeadRepository
        organizations: OrganizationRepository

    class CustomerCreationDeps(Clocked, WelcomeEmailDeps, ContractItemsDeps, Protocol):
        """A new customer: organisation, contract (items from the catalog) and first Master."""

        organizations: OrganizationRepository
        identity: CognitoIdentity
        new_temporary_password: Callable[[], str]

    class LeadConversionDeps(CustomerCreationDeps, Protocol):
        """A lead turned into a customer, and marked converted."""

        leads: LeadRepository

    class AddressChangeDeps(Clocked, Protocol):
        """The operator's edit of a customer's address, audited."""

        organizations: OrganizationRepository


RATE_WINDOW = timedelta(hours=1)


# --- the public form ----------------------------------------------------------------------------

LEAD = shape("Lead", description="Uma solicitação do formulário de contratação; `id` é o CNPJ.",
             id=text(), cnpj=text(), company_name=text(), contact_name=text(), email=text(format="email"),
             phone=text(description="E.164, +55…"), products_of_interest=array(text()),
             existing_microsoft_customer=boolean(), tenant_domain=nullable(text()),
             status=enum(lead_rules.STATUSES), created_at=date_time(),
             organization_id=nullable(text(description="O cliente criado na conversão.")))
LEAD_PAGE = page(LEAD, "Lead")


def lead_view(lead: Lead) -> Dict[str, Any]:
    return {"id": lead.id, "cnpj": lead.cnpj, "company_name": lead.company_name, "contact_name": lead.contact_name,
            "email": lead.email, "phone": lead.phone, "products_of_interest": lead.products_of_interest,
            "existing_microsoft_customer": lead.existing_microsoft_customer, "tenant_domain": lead.tenant_domain,
            "status": lead.status, "created_at": lead.created_at, "organization_id": lead.organization_id}


NEXT_STEPS = shape("NextSteps", description="O que acontece agora; os contatos dos especialistas quando são eles "
                   "que ligam.", message=text(), specialists_phone=nullable(text()),
                   specialists_email=nullable(text(format="email")))


def _next_steps(deps: LeadFormDeps, lead: Lead) -> Dict[str, Any]:
    support = deps.settings.support
    if lead.status == lead_rules.SPECIALISTS:
        return {"message": "Como você já utiliza serviços online da Microsoft, nosso time de especialistas "
                           "entrará em contato. Se preferir, fale com eles agora.",
                "specialists_phone": support.specialists_phone, "specialists_email": support.specialists_email}
    # What comes next, not a receipt: the email and the form already say the request was received.
    return {"message": "Um executivo de contas entrará em contato em até 2 dias úteis para concluir a contratação.",
            "specialists_phone": None, "specialists_email": None}


def _check_rate(deps: LeadFormDeps, source_ip: Optional[str]) -> None:
    now = deps.clock()
    window = now.strftime("%Y%m%d%H")
    count = deps.rate_limiter.hit(f"leads:{source_ip or 'unknown'}", window, now + 2 * RATE_WINDOW)
    if count > deps.settings.lead_rate_limit_per_hour:
        raise codes.TOO_MANY_REQUESTS(retry_after_seconds=3600 - now.minute * 60 - now.second)


def _products(deps: LeadFormDeps, skus: List[str]) -> List[str]:
    known = {p.sku for p in deps.catalog.list() if p.active}
    unknown = sorted(set(skus) - known)
    if unknown:
        raise codes.INVALID_PRODUCT(field="products_of_interest", unknown=unknown)
    return list(dict.fromkeys(skus))


@dataclass(frozen=True)
class LeadSubmission:
    """What the form's sender is told: their request as they sent it, and what happens next. The
    same whether the CNPJ asked before, became a customer or is new: the public form tells nobody
    what the reseller knows about a CNPJ."""

    lead: Lead
    next_steps: Dict[str, Any]


def submit_lead(deps: LeadFormDeps, body: Dict[str, Any], source_ip: Optional[str]) -> LeadSubmission:
    _check_rate(deps, source_ip)
    existing_customer = bool(body["existing_microsoft_customer"])
    cnpj = normalize_cnpj(body["cnpj"])
    lead = Lead(
        id=cnpj, cnpj=cnpj, company_name=body["company_name"].strip(), contact_name=body["contact_name"].strip(),
        email=user_rules.normalize_email(body["email"]), phone=lead_rules.normalize_phone(body["phone"]),
        products_of_interest=_products(deps, body.get("products_of_interest") or []),
        existing_microsoft_customer=existing_customer,
        tenant_domain=lead_rules.normalize_tenant_domain(body.get("tenant_domain"), existing_customer),
        status=lead_rules.status_for(existing_customer), created_at=iso(deps.clock()), source_ip=source_ip)
    answer = LeadSubmission(lead, next_steps=_next_steps(deps, lead))
    if body.get("website"):
        # The honeypot field is invisible to people: only a bot fills it. It gets the normal
        # answer and nothing is stored or sent.
        return answer
    if deps.leads.add(lead) is not None:
        # The CNPJ asked before (or is a customer): its first request stays as it was, for the
        # operators; the sender gets the same answer and the same confirmation as a new one.
        _confirm(deps, lead, delivery_key=f"lead_received#{lead.cnpj}#{new_id()}")
        return answer
    _confirm(deps, lead, delivery_key=f"lead_received#{lead.cnpj}")
    names = {p.sku: p.name for p in deps.catalog.list()}
    notifications.queue_email(deps, template="lead_for_operators", to=[deps.settings.operators_email],
                              delivery_key=f"lead_for_operators#{lead.cnpj}", context={
                                  "lead": {**lead_view(lead), "cnpj": format_cnpj(lead.cnpj),
                                           "products": [names.get(sku, sku) for sku in lead.products_of_interest]},
                                  "next_steps": _next_steps(deps, lead), "portal_url": deps.settings.portal_url})
    return answer


def _confirm(deps: LeadFormDeps, lead: Lead, delivery_key: str) -> None:
    """The sender's confirmation carries nothing they typed but their name: anyone can type any
    address into a public form, and an email that echoed a company name or a message back would
    carry a stranger's text to it. Product names come from the catalog, not from the form."""
    names = {p.sku: p.name for p in deps.catalog.list()}
    context = {"lead": {"contact_name": lead.contact_name,
                        "products": [names[sku] for sku in lead.products_of_interest if sku in names]},
               "next_steps": _next_steps(deps, lead), "portal_url": deps.settings.portal_url}
    notifications.queue_email(deps, template="lead_received", to=[lead.email], context=context,
                              delivery_key=delivery_key)


# --- the back office ----------------------------------------------------------------------------

def list_leads(deps: BackOfficeListDeps, *, limit: int, next_token: Optional[str]):
    return deps.leads.list(limit=limit, next_token=next_token)


def list_organizations(deps: BackOfficeListDeps, *, limit: int, next_token: Optional[str]):
    """The customers, by name."""
    return deps.organizations.list(limit=limit, next_token=next_token)


def get_organization(deps: BackOfficeListDeps, organization_id: str) -> Organization:
    """One customer, for its page in the back office (404 `organization_not_found` when none)."""
    return deps.organizations.get(organization_id)


# `component(closed(...))`, not `shape(...)`: a property called `name` collides with shape's own `name`.
ORGANIZATION = component("Organization", closed(dict(
    id=text(), name=text(description="Razão social."), cnpj=nullable(text()), tenant_domain=nullable(text()),
    masters_count=integer(minimum=0), created_at=date_time(),
    address=nullable(ADDRESS), version=integer(minimum=1),
    existing_microsoft_customer=boolean(),
    microsoft_customer_id=nullable(text(description="O cliente (tenant) no Partner Center, gravado antes do "
                                                    "primeiro pedido; nulo até lá."))),
    description="Um cliente (`address` nulo: cliente cadastrado antes de o endereço ser pedido; o operador o "
                "completa com PUT /backoffice/organizations/{id}/address, com `version` no If-Match). "
                "`existing_microsoft_customer`: o tenant em `tenant_domain` é vinculado, não criado."))
ORGANIZATION_PAGE = page(ORGANIZATION, "Organization")


def organization_view(organization: Organization) -> Dict[str, Any]:
    return {"id": organization.id, "name": organization.name, "cnpj": organization.cnpj,
            "tenant_domain": organization.tenant_domain, "masters_count": organization.masters_count,
            "created_at": organization.created_at, "address": address_view(organization.address),
            "version": organization.version, "existing_microsoft_customer": organization.existing_microsoft_customer,
            "microsoft_customer_id": organization.microsoft_customer_id}


CUSTOMER_CREATED = shape("CustomerCreated", description="O cliente criado: organização, contrato aguardando aceite "
                         "e o primeiro Master (convidado).", organization=ORGANIZATION, contract_id=text(),
                         master=ref("User"))


def create_customer(deps: CustomerCreationDeps, caller: Caller, *, name: str, cnpj: str, closing_day: int,
                    payment_method: str, billing_contacts: List[str], master: Dict[str, str],
                    address: Dict[str, Any], items: List[Dict[str, Any]] = (),
                    tenant_domain: Optional[str] = None,
                    existing_microsoft_customer: Optional[bool] = None) -> Dict[str, Any]:
    """Organisation + contract awaiting acceptance + first Master (welcome email), all or nothing.
    The address is required: a customer without one cannot get a correct nota fiscal (it is the
    NFS-e's taker address), so it is checked before anything is created."""
    cnpj = normalize_cnpj(cnpj)
    taker_address = normalize_address(address, "address")
    contract_rules.validate_closing_day(closing_day)
    contract_rules.validate_payment_method(payment_method)
    contacts = [user_rules.normalize_email(e) for e in billing_contacts]
    master_email = user_rules.normalize_email(master["email"])
    lines = contract_items(deps, list(items))
    now = iso(deps.clock())
    # Unsaid: a customer registered with its tenant's domain has one to link (the form asks the
    # domain of existing Microsoft customers only). Said (the back office's explicit flag): false
    # makes the domain the new tenant's to create; true needs a valid domain, the tenant to link.
    existing = bool(tenant_domain) if existing_microsoft_customer is None else bool(existing_microsoft_customer)
    if existing:
        tenant_domain = lead_rules.normalize_tenant_domain(tenant_domain, True)
    organization = Organization(id=new_id(), name=name.strip(), cnpj=cnpj, tenant_domain=tenant_domain,
                                masters_count=1, created_at=now, address=taker_address,
                                existing_microsoft_customer=existing)
    contract = Contract(id=new_id(), organization_id=organization.id, status=AWAITING_ACCEPTANCE,
                        payment_method=payment_method, closing_day=closing_day,
                        billing_contacts=contacts or [master_email], items=lines)
    password = deps.new_temporary_password()
    master_id = deps.identity.create_user(master_email, master["name"].strip(), password)
    first_master = User(id=master_id, organization_id=organization.id, email=master_email,
                        name=master["name"].strip(), roles=frozenset({Role.MASTER}), status="invited", created_at=now)
    actor = caller.actor
    entries = [
        audit.entry(deps, actor, organization.id, "organization.created", f"organization:{organization.id}",
                    after=organization_view(organization)),
        audit.entry(deps, actor, organization.id, "contract.created", f"contract:{contract.id}",
                    after={"closing_day": closing_day, "payment_method": payment_method,
                           "items": [asdict(i) for i in lines]}),
        audit.entry(deps, actor, organization.id, "user.invited", f"user:{master_id}",
                    after=user_service.user_view(first_master)),
    ]
    try:
        deps.organizations.create(organization, contract, first_master, entries)
    except Exception:
        deps.identity.delete_user(master_email)
        raise
    user_service.queue_welcome_email(deps, first_master, organization, password,
                                     [{"name": i.name, "quantity": i.quantity} for i in lines])
    return {"organization": organization_view(organization), "contract_id": contract.id,
            "master": user_service.user_view(first_master)}


def convert_lead(deps: LeadConversionDeps, caller: Caller, lead_id: str, *, closing_day: int, payment_method: str,
                 master: Dict[str, str], billing_contacts: List[str], address: Dict[str, Any],
                 items: Optional[List[Dict[str, Any]]] = None) -> Dict[str, Any]:
    """The lead becomes a customer with the billing contacts the operator confirmed. Never the
    lead's email by default: a form filed by a stranger for someone else's CNPJ must not route
    that company's invoices to the stranger."""
    contacts = contract_rules.normalize_billing_contacts(billing_contacts)  # at least one, before anything
    lead, version = deps.leads.by_cnpj(normalize_cnpj(lead_id))
    if lead.status == lead_rules.CONVERTED:
        raise codes.LEAD_ALREADY_CONVERTED(organization_id=lead.organization_id)
    created = create_customer(
        deps, caller, name=lead.company_name, cnpj=lead.cnpj, closing_day=closing_day, payment_method=payment_method,
        billing_contacts=contacts, master=master, address=address, tenant_domain=lead.tenant_domain,
        existing_microsoft_customer=lead.existing_microsoft_customer,
        items=items if items is not None else [{"sku": sku, "quantity": 1} for sku in lead.products_of_interest])
    deps.leads.mark_converted(replace(lead, status=lead_rules.CONVERTED,
                                      organization_id=created["organization"]["id"], converted_by=caller.user.id),
                              version)
    return created


def change_address(deps: AddressChangeDeps, caller: Caller, organization_id: str, address: Dict[str, Any], *,
                   expected_version: Optional[int] = None) -> Organization:
    """The operator completes or corrects a customer's address (customers onboarded before it was
    asked have none, and their notas fiscais need it). Written on the version read, with its audit
    entry (`organization.address_changed`, before and after); the same address again changes nothing."""
    organization = deps.organizations.get(organization_id)
    if expected_version is not None and expected_version != organization.version:
        raise codes.VERSION_CONFLICT()
    new_address = normalize_address(address)
    if new_address == organization.address:
        return organization
    changed = replace(organization, address=new_address, version=organization.version + 1)
    deps.organizations.save_address(changed, expected_version=organization.version, audit=audit.entry(
        deps, caller.actor, organization.id, "organization.address_changed", f"organization:{organization.id}",
        before={"address": address_view(organization.address)}, after={"address": address_view(new_address)}))
    return changed
