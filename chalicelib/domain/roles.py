"""Profiles and what each may do: PRODUCT.md's permission matrix, as data.

Every route declares one capability; `ROLE_CAPABILITIES` says which profiles hold it. Nothing else
in the code compares role names.
"""
from __future__ import annotations

from enum import Enum
from typing import FrozenSet, Iterable


class Role(str, Enum):
    MASTER = "master"
    ADM = "adm"
    COBRANCA = "cobranca"
    SUPORTE = "suporte"
    OPERATOR = "operator"


# Profiles a customer's Master may grant. Operators are the reseller's staff: only operators
# create operators, and never inside a customer organisation.
CUSTOMER_ROLES: FrozenSet[Role] = frozenset({Role.MASTER, Role.ADM, Role.COBRANCA, Role.SUPORTE})


class Capability(str, Enum):
    USE_PORTAL = "use_portal"  # any signed-in profile: /me, /contract, catalog
    ACCEPT_CONTRACT = "accept_contract"
    MANAGE_USERS = "manage_users"
    VIEW_LICENCES = "view_licences"
    CHANGE_QUANTITIES = "change_quantities"
    BUY_PRODUCTS = "buy_products"
    CANCEL_SERVICES = "cancel_services"
    BILLING = "billing"  # invoices, boletos, notas fiscais, financial data, second copy
    SUPPORT_TICKETS = "support_tickets"
    READ_AUDIT = "read_audit"
    BACK_OFFICE = "back_office"
    ACT_FOR_CUSTOMERS = "act_for_customers"  # X-Organization-Id: work inside a customer's organisation
    EXPORT_DATA = "export_data"  # LGPD: the organisation's data as a zip (an operator acting for it, too)
    VIEW_REPORTS = "view_reports"  # the spend report (and its CSV)
    MANAGE_WEBHOOKS = "manage_webhooks"  # the organisation's webhook endpoints and their deliveries
    APPROVE_PURCHASES = "approve_purchases"  # the approval limit; approve or reject an Adm's purchase


_ALL_CUSTOMER = {Role.MASTER, Role.ADM, Role.COBRANCA, Role.SUPORTE}

ROLE_CAPABILITIES = {
    Capability.USE_PORTAL: frozenset(_ALL_CUSTOMER | {Role.OPERATOR}),
    Capability.ACCEPT_CONTRACT: frozenset({Role.MASTER}),
    Capability.MANAGE_USERS: frozenset({Role.MASTER, Role.OPERATOR}),
    Capability.VIEW_LICENCES: frozenset(_ALL_CUSTOMER | {Role.OPERATOR}),
    Capability.CHANGE_QUANTITIES: frozenset({Role.MASTER, Role.ADM}),
    Capability.BUY_PRODUCTS: frozenset({Role.MASTER, Role.ADM}),
    Capability.CANCEL_SERVICES: frozenset({Role.MASTER, Role.ADM}),
    Capability.BILLING: frozenset({Role.MASTER, Role.COBRANCA, Role.OPERATOR}),
    Capability.SUPPORT_TICKETS: frozenset({Role.MASTER, Role.SUPORTE, Role.OPERATOR}),
    Capability.READ_AUDIT: frozenset({Role.MASTER, Role.OPERATOR}),
    Capability.BACK_OFFICE: frozenset({Role.OPERATOR}),
    Capability.ACT_FOR_CUSTOMERS: frozenset({Role.OPERATOR}),
    Capability.EXPORT_DATA: frozenset({Role.MASTER, Role.OPERATOR}),
    Capability.VIEW_REPORTS: frozenset({Role.MASTER, Role.COBRANCA, Role.OPERATOR}),
    Capability.MANAGE_WEBHOOKS: frozenset({Role.MASTER, Role.OPERATOR}),
    Capability.APPROVE_PURCHASES: frozenset({Role.MASTER}),
}


def roles_allowed(capability: Capability) -> FrozenSet[Role]:
    return ROLE_CAPABILITIES[capability]


def can(roles: Iterable[Role], capability: Capability) -> bool:
    return any(role in ROLE_CAPABILITIES[capability] for role in roles)


def capabilities_of(roles: Iterable[Role]) -> FrozenSet[Capability]:
    return frozenset(cap for cap in Capability if can(roles, cap))


def parse_roles(values: Iterable[str]) -> FrozenSet[Role]:
    """Role names from storage or input; unknown names raise ValueError."""
    return frozenset(Role(value) for value in values)
