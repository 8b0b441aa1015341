"""Microsoft New Commerce commitment terms and billing plans, as data.

A product (and each subscription bought from it) has a term — how long the customer commits —
and a billing plan — when the reseller charges for it:

| term | plans                                                                     |
|------|---------------------------------------------------------------------------|
| P1M  | monthly                                                                   |
| P1Y  | monthly, annual (the whole year up front)                                 |
| P3Y  | monthly, annual (each year up front at its start), triennial (the whole   |
|      | three years up front)                                                     |

"annual" has always meant "billed up front, one year at a time"; "triennial" (Microsoft's own
name for it) was added for a 3-year term paid at once. A monthly plan is billed in arrears, pro
rata by day over each billing period (`domain.proration`); an up-front plan bills each block (a
year, or the three years) on the invoice of the period in which the block starts.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from . import error_codes as codes

P1M, P1Y, P3Y = "P1M", "P1Y", "P3Y"
TERMS = (P1M, P1Y, P3Y)
TERM_MONTHS = {P1M: 1, P1Y: 12, P3Y: 36}

MONTHLY, ANNUAL, TRIENNIAL = "monthly", "annual", "triennial"
BILLING_FREQUENCIES = (MONTHLY, ANNUAL, TRIENNIAL)

# Which plans each term may be sold with (the table above).
PLANS: Dict[str, Tuple[str, ...]] = {P1M: (MONTHLY,), P1Y: (MONTHLY, ANNUAL), P3Y: (MONTHLY, ANNUAL, TRIENNIAL)}

# How many months an up-front plan charges at once; a monthly plan is not up front.
UPFRONT_MONTHS = {ANNUAL: 12, TRIENNIAL: 36}

TERM_LABELS = {P1M: "mensal", P1Y: "anual", P3Y: "3 anos"}
_PLAN_LABELS = {
    (P1M, MONTHLY): "Mensal",
    (P1Y, MONTHLY): "Anual · cobrança mensal",
    (P1Y, ANNUAL): "Anual · pagamento antecipado",
    (P3Y, MONTHLY): "3 anos · cobrança mensal",
    (P3Y, ANNUAL): "3 anos · pagamento anual antecipado",
    (P3Y, TRIENNIAL): "3 anos · pagamento antecipado",
}


def is_allowed(term: str, billing_frequency: str) -> bool:
    return billing_frequency in PLANS.get(term, ())


def validate_plan(term: str, billing_frequency: str) -> None:
    """A product is written only with a plan its term allows (422, nothing written)."""
    if not is_allowed(term, billing_frequency):
        raise codes.INVALID_BILLING_PLAN(field="billing_frequency", term=term, billing_frequency=billing_frequency,
                                         allowed=list(PLANS.get(term, ())))


def upfront_months(term: str, billing_frequency: str) -> Optional[int]:
    """Months charged at once by an up-front plan (12 or 36), None for a monthly plan. A
    combination the table does not allow (a product written before the table existed) is billed
    monthly, as everything was then."""
    if not is_allowed(term, billing_frequency):
        return None
    return UPFRONT_MONTHS.get(billing_frequency)


def plan_label(term: str, billing_frequency: str) -> str:
    """'Anual · pagamento antecipado': what the panel and the catalog show."""
    return _PLAN_LABELS.get((term, billing_frequency), TERM_LABELS.get(term, term).capitalize())


def monthly_note(term: str) -> str:
    """What a monthly line of a longer term adds to its text: ' (anual, cobrança mensal)'. A P1M
    line reads as it always has."""
    if term == P1M or term not in TERM_LABELS:
        return ""
    return f" ({TERM_LABELS[term]}, cobrança mensal)"
