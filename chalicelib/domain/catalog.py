"""CSP products as the reseller sells them. Prices are integer centavos per licence per month.

A price change never touches the past: the new price applies to billing periods that start on or
after its effective date (the next day), and the history keeps every price (billing reads it).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Iterable, List, Optional

TERMS = ("P1M", "P1Y", "P3Y")  # Microsoft New Commerce commitment terms
BILLING_FREQUENCIES = ("monthly", "annual")
MAX_CART_LINES = 25  # one checkout is one DynamoDB transaction


@dataclass
class Product:
    sku: str
    name: str
    family: str
    unit_price_cents: int  # the latest price set, in force from `price_effective_from`
    term: str
    billing_frequency: str
    active: bool = True
    previous_price_cents: Optional[int] = None  # in force before `price_effective_from`
    price_effective_from: Optional[str] = None  # YYYY-MM-DD

    def price_on(self, day: date) -> int:
        if self.price_effective_from and day.isoformat() < self.price_effective_from \
                and self.previous_price_cents is not None:
            return self.previous_price_cents
        return self.unit_price_cents


def family_id(family: str) -> str:
    """'Segurança' → 'seguranca': a stable id for the family filter."""
    ascii_name = unicodedata.normalize("NFKD", family).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold()


def matches(product: Product, family: Optional[str], query: Optional[str]) -> bool:
    """The catalog filter: by family (id or name) and by words of the name, accents ignored."""
    if family and family_id(family) != family_id(product.family):
        return False
    if query:
        name = _folded(product.name + " " + product.sku)
        return all(word in name for word in _folded(query).split())
    return True


def families(products: Iterable[Product]) -> List[dict]:
    names = sorted({p.family for p in products})
    return [{"id": family_id(name), "name": name} for name in names]
