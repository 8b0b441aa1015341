"""Money is integer centavos; this module formats it for people."""
from __future__ import annotations


def format_brl(amount_cents: int) -> str:
    """pt-BR currency: 123456 → 'R$ 1.234,56' (negative: '-R$ 1.234,56')."""
    sign = "-" if amount_cents < 0 else ""
    reais, cents = divmod(abs(int(amount_cents)), 100)
    grouped = f"{reais:,}".replace(",", ".")
    return f"{sign}R$ {grouped},{cents:02d}"
