"""Demo data for `make run` (and tests that want a populated world).

A catalog of Microsoft CSP products with BRL prices, the reseller's operator, and one customer
organisation (valid CNPJ) whose contract awaits acceptance, with a Master and one user for each
other profile. Demo users get a known, permanent password so they can log in straight away; the
profiles that require MFA (operator, Masters) are enrolled already, with the local Cognito's one
TOTP secret (`local.moto_fixes.LOCAL_TOTP_SECRET`, written to demo-accounts.json and the README).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Dict, List, Optional

import boto3

from chalicelib.bootstrap import Container
from chalicelib.domain.addresses import normalize_address
from chalicelib.domain.audit import Actor
from chalicelib.domain.catalog import Product, with_price
from chalicelib.domain.clock import iso, local_day
from chalicelib.domain.contract import AWAITING_ACCEPTANCE, Contract, ContractItem
from chalicelib.domain.ids import new_id
from chalicelib.domain.mfa import required_for
from chalicelib.domain.organizations import Organization, normalize_cnpj
from chalicelib.domain.roles import Role
from chalicelib.domain.users import RESELLER_ORGANIZATION_ID, User
from chalicelib.adapters.licence_provider import Offer
from chalicelib.services import audit, provisioning

SEED_ACTOR = Actor(user_id="seed", email=None)

# (sku, name, family, monthly price in centavos, term, billing frequency)
CATALOG = [
    ("MS365-BUSINESS-BASIC", "Microsoft 365 Business Basic", "Microsoft 365", 3300, "P1Y", "monthly"),
    ("MS365-BUSINESS-BASIC-M", "Microsoft 365 Business Basic (mensal)", "Microsoft 365", 3960, "P1M", "monthly"),
    ("MS365-BUSINESS-STANDARD", "Microsoft 365 Business Standard", "Microsoft 365", 6890, "P1Y", "monthly"),
    ("MS365-BUSINESS-PREMIUM", "Microsoft 365 Business Premium", "Microsoft 365", 12120, "P1Y", "monthly"),
    ("MS365-E3", "Microsoft 365 E3", "Microsoft 365", 20710, "P1Y", "monthly"),
    ("MS365-E5", "Microsoft 365 E5", "Microsoft 365", 32870, "P1Y", "annual"),
    ("O365-E1", "Office 365 E1", "Microsoft 365", 5550, "P1Y", "monthly"),
    ("EXO-PLAN1", "Exchange Online (Plano 1)", "Microsoft 365", 2210, "P1Y", "monthly"),
    ("D365-SALES-PRO", "Dynamics 365 Sales Professional", "Dynamics 365", 35880, "P1Y", "monthly"),
    ("D365-CUSTOMER-SERVICE-ENT", "Dynamics 365 Customer Service Enterprise", "Dynamics 365", 57970, "P1Y", "monthly"),
    ("D365-BC-ESSENTIALS", "Dynamics 365 Business Central Essentials", "Dynamics 365", 38640, "P1Y", "monthly"),
    ("AZ-DEVOPS-BASIC", "Azure DevOps Basic", "Azure", 3310, "P1M", "monthly"),
    ("AZ-VIRTUAL-DESKTOP", "Azure Virtual Desktop (por usuário)", "Azure", 5500, "P1M", "monthly"),
    ("WIN11-ENT-E3", "Windows 11 Enterprise E3", "Windows", 3860, "P1Y", "monthly"),
    ("W365-BUSINESS-2V8G", "Windows 365 Business 2 vCPU / 8 GB", "Windows", 21300, "P1Y", "monthly"),
    ("ENTRA-ID-P1", "Microsoft Entra ID P1", "Segurança", 3310, "P1Y", "monthly"),
    ("DEFENDER-BUSINESS", "Microsoft Defender for Business", "Segurança", 1660, "P1Y", "monthly"),
    ("INTUNE-P1", "Microsoft Intune Plano 1", "Segurança", 4410, "P1Y", "monthly"),
    ("POWERBI-PRO", "Power BI Pro", "Power Platform", 7730, "P1Y", "monthly"),
    ("POWERAPPS-PREMIUM", "Power Apps Premium", "Power Platform", 11040, "P1Y", "monthly"),
]

# Partner Center's New Commerce offer of each demo product ("productId:skuId", as its price list
# names them): what the provisioning worker orders with LICENCE_PROVIDER=real. The products left
# out have none yet, as a reseller's catalog would before an operator completes it (PUT
# /backoffice/catalog/products/{sku} with `offer_id`); the simulator orders them all the same.
OFFER_IDS = {
    "MS365-BUSINESS-BASIC": "CFQ7TTC0LH18:0001",
    "MS365-BUSINESS-BASIC-M": "CFQ7TTC0LH18:0001",
    "MS365-BUSINESS-STANDARD": "CFQ7TTC0LDPB:0001",
    "MS365-BUSINESS-PREMIUM": "CFQ7TTC0LCHC:0002",
    "MS365-E3": "CFQ7TTC0LFLX:0001",
    "MS365-E5": "CFQ7TTC0LFLZ:0002",
    "O365-E1": "CFQ7TTC0LF8Q:0001",
    "EXO-PLAN1": "CFQ7TTC0LH16:0001",
    "WIN11-ENT-E3": "CFQ7TTC0LGTX:0004",
    "ENTRA-ID-P1": "CFQ7TTC0LFLS:0002",
    "DEFENDER-BUSINESS": "CFQ7TTC0HX56:0002",
    "INTUNE-P1": "CFQ7TTC0LCH4:0009",
    "POWERBI-PRO": "CFQ7TTC0LHSF:0001",
}

# Per-product seat limits the demo shows (#21 §4, product quantity limits): (minimum, maximum or None).
# Microsoft's Business plans stop at 300 seats; a reseller may ask a minimum of an enterprise product.
QUANTITY_LIMITS = {
    "MS365-BUSINESS-PREMIUM": (1, 300),
    "D365-CUSTOMER-SERVICE-ENT": (5, None),
}

DEMO_ORGANIZATION = {
    "name": "Padaria Pão de Mel Ltda",
    "cnpj": "11.222.333/0001-81",
    "tenant_domain": "paodemel.onmicrosoft.com",
    # The NFS-e's taker address: through the same rules as onboarding's (a real IBGE code).
    "address": {"cep": "04101-300", "street": "Rua Vergueiro", "number": "3185", "complement": "Loja 2",
                "district": "Vila Mariana", "city_code": "3550308", "state": "SP"},
}
DEMO_CONTRACT_ITEMS = [("MS365-BUSINESS-STANDARD", 12), ("EXO-PLAN1", 5), ("DEFENDER-BUSINESS", 12)]


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    name: str
    roles: List[str]
    organization_id: str
    # The TOTP secret of an account enrolled in MFA (its login answers a code): None when not enrolled.
    mfa_secret: Optional[str] = None


DEMO_PASSWORD = "Demo#2026portal"

DEMO_USERS = [
    ("operador@brasoftware.example", "Olga Operadora", [Role.OPERATOR], RESELLER_ORGANIZATION_ID),
    ("master@paodemel.example", "Marta Master", [Role.MASTER], "demo"),
    ("adm@paodemel.example", "André Adm", [Role.ADM], "demo"),
    ("cobranca@paodemel.example", "Cíntia Cobrança", [Role.COBRANCA], "demo"),
    ("suporte@paodemel.example", "Sérgio Suporte", [Role.SUPORTE], "demo"),
]


def seed_catalog(deps: Container) -> None:
    today = local_day(deps.clock())
    for sku, name, family, price, term, frequency in CATALOG:
        minimum, maximum = QUANTITY_LIMITS.get(sku, (1, None))
        product = Product(sku=sku, name=name, family=family, term=term, billing_frequency=frequency,
                          offer_id=OFFER_IDS.get(sku), min_quantity=minimum, max_quantity=maximum)
        deps.catalog.put(with_price(product, price, today))


def _identity(deps: Container, email: str, name: str) -> str:
    """A Cognito user with the demo password already permanent (local demo only)."""
    user_id = deps.identity.create_user(email, name, DEMO_PASSWORD)
    boto3.client("cognito-idp", region_name=deps.settings.region).admin_set_user_password(
        UserPoolId=deps.settings.user_pool_id, Username=email, Password=DEMO_PASSWORD, Permanent=True)
    return user_id


def _enrol_in_mfa(deps: Container, email: str) -> str:
    """TOTP on for a demo user, through the identity adapter as the portal's enrolment does; returns
    the secret (the local Cognito's one secret)."""
    import time

    import pyotp

    token = deps.identity.login(email, DEMO_PASSWORD).access_token
    secret = deps.identity.start_mfa_enrolment(token)
    if 30 - time.time() % 30 < 2:  # the local Cognito takes the current 30-second step only
        time.sleep(2.1)
    deps.identity.confirm_mfa_enrolment(token, pyotp.TOTP(secret).now())
    return secret


def _user(deps: Container, email: str, name: str, roles, organization_id: str) -> User:
    user_id = _identity(deps, email, name)
    enrolled = required_for(roles)
    if enrolled:
        _enrol_in_mfa(deps, email)
    return User(id=user_id, organization_id=organization_id, email=email, name=name,
                roles=frozenset(roles), status="active", created_at=iso(deps.clock()),
                mfa_enrolled_at=iso(deps.clock()) if enrolled else None)


def _mfa_secret(roles) -> Optional[str]:
    from local.moto_fixes import LOCAL_TOTP_SECRET

    return LOCAL_TOTP_SECRET if required_for(roles) else None


def _create_organization(deps: Container, organization: Organization, contract, users: List[User]) -> None:
    masters = [u for u in users if u.is_master][:1]
    entries = [audit.entry(deps, SEED_ACTOR, organization.id, "organization.created",
                           f"organization:{organization.id}", after=organization)]
    deps.organizations.create(organization, contract, masters[0] if masters else None, entries)
    for user in users:
        if masters and user is masters[0]:
            continue
        deps.users.create(user, audit.entry(deps, SEED_ACTOR, organization.id, "user.invited",
                                            f"user:{user.id}", after={"email": user.email}))


# A second customer, active for a few months, so a billing run has something to bill right away.
BILLED_ORGANIZATION = {"name": "Oficina Digital Ltda", "cnpj": "11.444.777/0001-61", "closing_day": 20,
                       "master": ("master@oficinadigital.example", "Otávio Master"),
                       "address": {"cep": "13015-904", "street": "Avenida Francisco Glicério", "number": "1046",
                                   "district": "Centro", "city_code": "3509502", "state": "SP"}}


def _seed_billed_customer(deps: Container) -> DemoAccount:
    """Bought 75 days ago, one quantity change 40 days ago: the last closed period has an invoice to issue."""
    from chalicelib.domain.contract import ACTIVE
    from chalicelib.domain.proration import Segment
    from chalicelib.domain.subscriptions import SeatWindow, Subscription, renewal_after, ACTIVE as SUB_ACTIVE

    now = deps.clock()
    bought_at, changed_at = now - timedelta(days=75), now - timedelta(days=40)
    org_id = new_id()
    email, name = BILLED_ORGANIZATION["master"]
    master = _user(deps, email, name, [Role.MASTER], org_id)
    contract = Contract(
        id=new_id(), organization_id=org_id, status=ACTIVE, payment_method="boleto",
        closing_day=BILLED_ORGANIZATION["closing_day"], billing_contacts=["financeiro@oficinadigital.example"],
        items=[ContractItem(sku="MS365-BUSINESS-PREMIUM", name="Microsoft 365 Business Premium", quantity=8)],
        accepted_at=iso(bought_at), accepted_by=master.id, accepted_from_ip="127.0.0.1",
        accepted_version=deps.settings.contract_version)
    _create_organization(deps, Organization(id=org_id, name=BILLED_ORGANIZATION["name"],
                                            cnpj=normalize_cnpj(BILLED_ORGANIZATION["cnpj"]), created_at=iso(bought_at),
                                            address=normalize_address(BILLED_ORGANIZATION["address"])),
                         contract, [master])
    # Its customer at the licence provider, linked or created as the provisioning worker would.
    microsoft_customer = provisioning.microsoft_customer_id(deps, org_id)
    products = {p[0]: p for p in CATALOG}
    subscriptions = []
    for sku, timeline in (("MS365-BUSINESS-PREMIUM", [(bought_at, 8), (changed_at, 10)]),
                          ("POWERBI-PRO", [(bought_at, 3)])):
        _, product_name, family, _, term, frequency = products[sku]
        start = local_day(bought_at)
        quantity = timeline[-1][1]
        subscriptions.append(Subscription(
            id=new_id(), organization_id=org_id, sku=sku, name=product_name, family=family, term=term,
            billing_frequency=frequency, status=SUB_ACTIVE, quantity=quantity, started_on=start,
            renews_on=renewal_after(start, term), timeline=[Segment(local_day(at), qty) for at, qty in timeline],
            windows=[SeatWindow(at, qty) for at, qty in timeline],
            provider_subscription_id=deps.licence_provider.create_subscription(
                microsoft_customer, Offer(sku=sku, offer_id=OFFER_IDS.get(sku), term=term, billing_frequency=frequency),
                quantity, new_id())))
    deps.subscriptions.save([], [], created=subscriptions, audit=[])
    return DemoAccount(email=email, password=DEMO_PASSWORD, name=name, roles=["master"], organization_id=org_id,
                       mfa_secret=_mfa_secret([Role.MASTER]))


def seed(deps: Container) -> List[DemoAccount]:
    seed_catalog(deps)
    now = iso(deps.clock())
    customer_id = new_id()
    organization_ids = {RESELLER_ORGANIZATION_ID: RESELLER_ORGANIZATION_ID, "demo": customer_id}
    by_org: Dict[str, List[User]] = {RESELLER_ORGANIZATION_ID: [], customer_id: []}
    accounts = []
    for email, name, roles, org_key in DEMO_USERS:
        org_id = organization_ids[org_key]
        by_org[org_id].append(_user(deps, email, name, roles, org_id))
        accounts.append(DemoAccount(email=email, password=DEMO_PASSWORD, name=name,
                                    roles=[r.value for r in roles], organization_id=org_id,
                                    mfa_secret=_mfa_secret(roles)))

    _create_organization(deps, Organization(id=RESELLER_ORGANIZATION_ID, name="Brasoftware Cloud",
                                            cnpj=None, created_at=now), None, by_org[RESELLER_ORGANIZATION_ID])
    products = {p[0]: p[1] for p in CATALOG}
    contract = Contract(
        id=new_id(), organization_id=customer_id, status=AWAITING_ACCEPTANCE, payment_method="boleto",
        closing_day=20, billing_contacts=["cobranca@paodemel.example", "financeiro@paodemel.example"],
        items=[ContractItem(sku=sku, name=products[sku], quantity=qty) for sku, qty in DEMO_CONTRACT_ITEMS],
    )
    _create_organization(deps, Organization(id=customer_id, name=DEMO_ORGANIZATION["name"],
                                            cnpj=normalize_cnpj(DEMO_ORGANIZATION["cnpj"]),
                                            tenant_domain=DEMO_ORGANIZATION["tenant_domain"],
                                            existing_microsoft_customer=True, created_at=now,
                                            address=normalize_address(DEMO_ORGANIZATION["address"])),
                         contract, by_org[customer_id])
    accounts.append(_seed_billed_customer(deps))
    return accounts
