"""Money is integer centavos; this module formats it for people."""
from __future__ import annotations


def format_percent_br(rate) -> str:
    """A rate as a pt-BR percent with two decimals: Decimal('0.029') or '0.029' → '2,90 %'."""
    from decimal import ROUND_HALF_EVEN, Decimal

    percent = (Decimal(str(rate)) * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    whole, _, decimals = f"{abs(percent):.2f}".partition(".")
    sign = "-" if percent < 0 else ""
    return f"{sign}{int(whole):,}".replace(",", ".") + f",{decimals} %"


def format_brl(amount_cents: int) -> str:
    """pt-BR currency: 123456 → 'R$ 1.234,56' (negative: '-R$ 1.234,56')."""
    sign = "-" if amount_cents < 0 else ""
    reais, cents = divmod(abs(int(amount_cents)), 100)
    grouped = f"{reais:,}".replace(",", ".")
    return f"{sign}R$ {grouped},{cents:02d}"
