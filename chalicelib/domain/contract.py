"""The customer's contract with the reseller and its acceptance ("aceite do contrato")."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from . import error_codes as codes
from . import subscriptions as subscription_rules
from .catalog import Product
from .catalog import quantity_refusal as product_quantity_refusal
from .errors import InvalidInput
from .ids import derived_id
from .proration import period_containing
from .subscriptions import QuantityChange, Subscription
from .users import normalize_email

AWAITING_ACCEPTANCE = "awaiting_acceptance"
ACTIVE = "active"
TERMINATING = "terminating"
TERMINATED = "terminated"
STATUSES = (AWAITING_ACCEPTANCE, ACTIVE, TERMINATING, TERMINATED)

# Why a contract refuses a licence change, in words that fit its status (the error's message).
NOT_ACTIVE_SITUATIONS = {
    AWAITING_ACCEPTANCE: "o contrato aguarda o aceite do Master; aceite o contrato antes",
    TERMINATING: "o contrato está em rescisão; só é possível cancelar as licenças restantes",
    TERMINATED: "o contrato foi encerrado; fale com o atendimento para contratar novamente",
}

PAYMENT_METHODS = ("boleto", "deposito")
BILLING_CONTACTS_FIELD = "billing_contacts"


@dataclass
class ContractItem:
    """A contracted item as sold: what the welcome email lists."""

    sku: str
    name: str
    quantity: int


@dataclass(frozen=True)
class ScheduledChange:
    """New billing terms of an active contract, from `effective_from` (the day after the current
    period's end): the period being used up keeps the terms it started with."""

    payment_method: str
    closing_day: int
    effective_from: date


@dataclass
class Contract:
    id: str
    organization_id: str
    status: str
    payment_method: str
    closing_day: int
    billing_contacts: List[str]
    items: List[ContractItem] = field(default_factory=list)
    accepted_at: Optional[str] = None
    accepted_by: Optional[str] = None
    accepted_from_ip: Optional[str] = None
    accepted_version: Optional[str] = None
    terminated_at: Optional[str] = None
    # Set when the contract closes: billing issues one last pro-rata invoice up to that day.
    final_invoice_due: bool = False
    version: int = 1
    # Payment method and closing day from the next period (see `change_terms`), until applied.
    scheduled_change: Optional[ScheduledChange] = None
    # The day the current closing day and payment method took effect, when they were changed on an
    # active contract: the first period under them starts that day (shorter than a natural period).
    terms_from: Optional[date] = None
    # LGPD: when its users' personal data was anonymised, after the fiscal retention (`services/privacy`).
    anonymised_at: Optional[str] = None
    # Dunning: an operator's values over the reseller's policy for this customer (`domain/dunning`).
    dunning_override: Optional[Dict[str, Any]] = None


def validate_closing_day(day: int) -> int:
    # 1..28 so that every month has the day: no "31st of February" closings.
    if not isinstance(day, int) or isinstance(day, bool) or not 1 <= day <= 28:
        raise codes.INVALID_CLOSING_DAY(field="closing_day")
    return day


def validate_payment_method(method: str) -> str:
    if method not in PAYMENT_METHODS:
        raise codes.INVALID_PAYMENT_METHOD(field="payment_method", allowed=list(PAYMENT_METHODS))
    return method


def ensure_acceptable(contract: Contract) -> None:
    if contract.status != AWAITING_ACCEPTANCE:
        raise codes.CONTRACT_ALREADY_ACCEPTED()


def accept(contract: Contract, *, user_id: str, at: str, source_ip: Optional[str], document_version: str) -> Contract:
    """Record the Master's acceptance: who, when, from where, and which version of the contract."""
    ensure_acceptable(contract)
    return replace(contract, status=ACTIVE, accepted_at=at, accepted_by=user_id, accepted_from_ip=source_ip,
                   accepted_version=document_version)


def items_to_order(contract: Contract) -> List[ContractItem]:
    """What accepting the contract orders: each contracted SKU once, in the contract's order (a SKU
    listed twice is one order of both quantities), items at zero left out."""
    quantities: Dict[str, ContractItem] = {}
    for item in contract.items:
        if item.quantity <= 0:
            continue
        known = quantities.get(item.sku)
        quantities[item.sku] = item if known is None else replace(known, quantity=known.quantity + item.quantity)
    return list(quantities.values())


def ordered_subscription_id(contract: Contract, sku: str) -> str:
    """The one subscription a contract orders for a SKU: the same id however often the acceptance
    is retried, replayed or raced, so the table refuses a second one (`attribute_not_exists`)."""
    return derived_id("contract-subscription", contract.id, sku)


def ordered_change_id(contract: Contract, sku: str, at: datetime) -> str:
    """Its purchase change, also the licence provider's request id. A subscription's changes are
    listed by id, newest first, so this id sorts by the acceptance's instant like any other change
    id; the subscription's own id is what makes the order happen once."""
    return derived_id("contract-purchase", contract.id, sku, at=at)


def order_items(contract: Contract, products: Mapping[str, Product], *, now: datetime,
                requested_by: str) -> List[Tuple[Subscription, QuantityChange]]:
    """Every contracted item as a purchase on the checkout's path: a subscription `pending` and its
    purchase change, with the product's term and billing frequency from the catalog, requested by
    the accepting Master. A contracted SKU the catalog no longer sells, or an item whose quantity
    is outside its product's limits as they are now (`quantity_below_minimum` /
    `quantity_above_maximum`), refuses the whole acceptance: nothing is ordered until the operator
    corrects the contract's items."""
    lines = items_to_order(contract)
    missing = [line for line in lines if products.get(line.sku) is None or not products[line.sku].active]
    if missing:
        raise codes.CONTRACT_ITEMS_UNAVAILABLE(skus=[line.sku for line in missing],
                                               items=", ".join(f"{line.name} ({line.sku})" for line in missing))
    for line in lines:  # limits changed since the operator set the items (#21 §4): refused, naming the item
        quantity_refusal = product_quantity_refusal(products[line.sku], line.quantity)
        if quantity_refusal is not None:
            raise quantity_refusal
    orders = []
    for line in lines:
        product = products[line.sku]
        orders.append(subscription_rules.purchase(
            subscription_id=ordered_subscription_id(contract, line.sku),
            change_id=ordered_change_id(contract, line.sku, now), organization_id=contract.organization_id,
            sku=product.sku, name=product.name, family=product.family, term=product.term,
            billing_frequency=product.billing_frequency, quantity=line.quantity, now=now,
            requested_by=requested_by))
    return orders


def ensure_open_for_changes(contract: Contract, *, to_zero: bool = False) -> None:
    """Licences change only under an active contract; while a rescission runs, cancelling what is
    left (going to zero) is still allowed."""
    allowed = (ACTIVE, TERMINATING) if to_zero else (ACTIVE,)
    if contract.status not in allowed:
        raise codes.CONTRACT_NOT_ACTIVE(status=contract.status,
                                        situation=NOT_ACTIVE_SITUATIONS.get(contract.status, contract.status))


def begin_termination(contract: Contract) -> Contract:
    """A rescission asked for: the contract is `terminating` until its last licence reaches zero.
    Asking again (to finish one a failure cut short) leaves it as it is."""
    ensure_open_for_changes(contract, to_zero=True)
    if contract.status == TERMINATING:
        return contract
    return replace(contract, status=TERMINATING, version=contract.version + 1)


def under_rescission(contract: Contract, *, rescission: bool = False) -> bool:
    """A contract that closes once its last licence reaches zero: one being terminated, or an
    active one whose subscriptions are each being reduced to zero with the reason "rescisão de
    contrato" (`rescission`), which is a rescission too (FAQ)."""
    return contract.status == TERMINATING or (rescission and contract.status == ACTIVE)


def close(contract: Contract, at: str) -> Contract:
    """The contract ends: billing issues one last pro-rata invoice up to that day."""
    return replace(contract, status=TERMINATED, terminated_at=at, final_invoice_due=True,
                   version=contract.version + 1)


def normalize_billing_contacts(raw: Iterable[str]) -> List[str]:
    """The addresses that receive invoices and boletos: valid, normalised, at least one, none twice."""
    contacts: List[str] = []
    for index, value in enumerate(raw):
        field_path = f"{BILLING_CONTACTS_FIELD}[{index}]"
        try:
            email = normalize_email(value)
        except InvalidInput:
            raise codes.INVALID_EMAIL(field=field_path) from None
        if email in contacts:
            raise codes.DUPLICATE_ITEMS(field=BILLING_CONTACTS_FIELD)
        contacts.append(email)
    if not contacts:
        raise codes.TOO_FEW_ITEMS(field=BILLING_CONTACTS_FIELD, min_items=1)
    return contacts


def with_billing_contacts(contract: Contract, contacts: Iterable[str]) -> Contract:
    """New billing contacts, until the contract ends. The same contacts again leave it as it is."""
    if contract.status == TERMINATED:
        raise codes.CONTRACT_TERMINATED()
    normalized = normalize_billing_contacts(contacts)
    if normalized == contract.billing_contacts:
        return contract
    return replace(contract, billing_contacts=normalized, version=contract.version + 1)


def told_of_contact_change(before: Contract, after: Contract) -> List[str]:
    """Who hears of a change of billing contacts: the old ones (a change they did not expect is
    how a hijack shows) and the new ones, each once."""
    return sorted({email.strip().lower() for email in before.billing_contacts} | set(after.billing_contacts))


# --- the operator's changes of payment method, closing day and items --------------------------

def change_terms(contract: Contract, *, today: date, payment_method: Optional[str] = None,
                 closing_day: Optional[int] = None, items: Optional[List[ContractItem]] = None) -> Contract:
    """The operator changes the contract's billing terms and, until it is accepted, its items.

    Awaiting acceptance nothing has been billed: everything changes at once. On an active contract
    the items are the Master's (the licence panel changes them), and payment method and closing
    day change from the next period: the period being used up is billed as it started. Asking for
    the terms in force cancels a scheduled change. Nothing changes on a contract being rescinded
    or closed. The same values again leave the contract as it is (the same object)."""
    if contract.status in (TERMINATING, TERMINATED):
        raise codes.CONTRACT_TERMS_FROZEN(status=contract.status)
    if payment_method is not None:
        validate_payment_method(payment_method)
    if closing_day is not None:
        validate_closing_day(closing_day)
    if contract.status == AWAITING_ACCEPTANCE:
        changed = replace(contract, payment_method=payment_method or contract.payment_method,
                          closing_day=closing_day or contract.closing_day,
                          items=list(items) if items is not None else contract.items)
        if (changed.payment_method, changed.closing_day, changed.items) == \
                (contract.payment_method, contract.closing_day, contract.items):
            return contract
        return replace(changed, version=contract.version + 1)
    if items is not None and list(items) != contract.items:
        raise codes.CONTRACT_ITEMS_LOCKED()
    pending = contract.scheduled_change
    base_method = pending.payment_method if pending else contract.payment_method
    base_day = pending.closing_day if pending else contract.closing_day
    method, day = payment_method or base_method, closing_day or base_day
    if (method, day) == (base_method, base_day):
        return contract
    if (method, day) == (contract.payment_method, contract.closing_day):
        return replace(contract, scheduled_change=None, version=contract.version + 1)
    return replace(contract, scheduled_change=ScheduledChange(method, day, next_terms_start(contract, today)),
                   version=contract.version + 1)


def next_terms_start(contract: Contract, today: date) -> date:
    """The day new terms take effect: the day after the end of the current period. While a change
    already due waits for its period's invoice (the run at the start of its day), its day stands:
    that period has not been billed yet."""
    pending = contract.scheduled_change
    if pending is not None and pending.effective_from <= today:
        return pending.effective_from
    return period_containing(today, contract.closing_day).end + timedelta(days=1)


def change_due(contract: Contract, closing: date) -> bool:
    """A scheduled change is due once the last period under the old terms (the one ending the day
    before it takes effect) is billed: when billing reaches that period or a later one."""
    pending = contract.scheduled_change
    return pending is not None and closing >= pending.effective_from - timedelta(days=1)


def change_overdue(contract: Contract, closing: date) -> bool:
    """Billing reached a period that starts on or after a scheduled change while the change still
    waits: the last period under the old terms was not billed (its run was missed)."""
    pending = contract.scheduled_change
    return pending is not None and closing >= pending.effective_from


def apply_scheduled_change(contract: Contract) -> Contract:
    """The new terms in force: the closing day (hence the billing run that finds the contract)
    and the payment method of the invoices from `effective_from` on."""
    pending = contract.scheduled_change
    if pending is None:
        return contract
    return replace(contract, payment_method=pending.payment_method, closing_day=pending.closing_day,
                   terms_from=pending.effective_from, scheduled_change=None, version=contract.version + 1)


def billed_under_earlier_terms(contract: Contract, closing: date) -> bool:
    """A closing before the current terms took effect, or on a closing day the contract no longer
    has: a message queued before a change was applied. That period was billed under the old terms."""
    return contract.terms_from is not None and \
        (closing < contract.terms_from or closing.day != contract.closing_day)
