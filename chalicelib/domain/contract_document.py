"""The contract's text as the customer reads it and accepts it: a versioned pt-BR text (kept as data,
templates/contract/<version>.json: title and sections of paragraphs) filled with the organisation's
name, CNPJ, closing day and payment method, and the contracted items with their monthly prices.
Pure: the service loads the text and the prices, the portal and the PDF show what this builds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from .organizations import format_cnpj

PAYMENT_WORDS = {"boleto": "boleto bancário", "deposito": "depósito bancário"}


@dataclass(frozen=True)
class DocumentItem:
    sku: str
    name: str
    quantity: int
    unit_price_cents: Optional[int]  # the monthly price per licence; None if the catalog has none

    @property
    def monthly_cents(self) -> Optional[int]:
        return None if self.unit_price_cents is None else self.unit_price_cents * self.quantity


class _Blank(dict):
    def __missing__(self, key: str) -> str:  # a placeholder the text names and we do not fill stays visible
        return "{" + key + "}"


def fill(paragraph: str, values: Mapping[str, str]) -> str:
    return paragraph.format_map(_Blank(values))


def build(text: Mapping[str, Any], *, organization_name: str, cnpj: Optional[str], closing_day: int,
          payment_method: str, items: Sequence[DocumentItem]) -> Dict[str, Any]:
    """{version, title, sections[{heading, paragraphs}], items, total_monthly_cents}: the text's
    placeholders ({organizacao}, {cnpj}, {fechamento}, {pagamento}) filled; items at zero left out."""
    values = {"organizacao": organization_name, "cnpj": format_cnpj(cnpj) if cnpj else "não informado",
              "fechamento": str(closing_day), "pagamento": PAYMENT_WORDS.get(payment_method, payment_method)}
    listed: List[DocumentItem] = [i for i in items if i.quantity > 0]
    return {
        "version": str(text["version"]), "title": text["title"],
        "sections": [{"heading": s["heading"], "paragraphs": [fill(p, values) for p in s["paragraphs"]]}
                     for s in text["sections"]],
        "items": [{"sku": i.sku, "name": i.name, "quantity": i.quantity, "unit_price_cents": i.unit_price_cents,
                   "monthly_cents": i.monthly_cents} for i in listed],
        "total_monthly_cents": sum(i.monthly_cents or 0 for i in listed),
    }
