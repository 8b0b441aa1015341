"""CSP products as the reseller sells them. Prices are integer centavos per licence per month."""
from __future__ import annotations

from dataclasses import dataclass

TERMS = ("P1M", "P1Y", "P3Y")  # Microsoft New Commerce commitment terms
BILLING_FREQUENCIES = ("monthly", "annual")


@dataclass
class Product:
    sku: str
    name: str
    family: str
    unit_price_cents: int
    term: str
    billing_frequency: str
    active: bool = True
