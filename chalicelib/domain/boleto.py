"""Boleto bancário per FEBRABAN: the 44-digit barcode, the 47-digit linha digitável, their check
digits, the fator de vencimento (with the 22 Feb 2025 reset) and two banks' "campo livre".

Barcode: bank(3) currency(1) DV(1) fator(4) valor(10) campo livre(25).
Linha digitável: five fields — bank+currency+livre[0:5]+DV, livre[5:15]+DV, livre[15:25]+DV,
the barcode's DV, fator+valor.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Optional, Tuple

from . import error_codes as codes
from .errors import InvalidBoleto  # noqa: F401 - callers catch it from here
from .proration import round_cents

CURRENCY_REAL = "9"
FACTOR_BASE = date(1997, 10, 7)  # fator 0
FACTOR_RESET = date(2025, 2, 22)  # fator 9999 + 1 day: back to 1000 (FEBRABAN)
MAX_AMOUNT_CENTS = 99_999_999_99  # ten digits in the barcode


def _digits(value: str, length: int) -> str:
    cleaned = "".join(ch for ch in value if not ch.isspace() and ch != ".")
    if len(cleaned) != length or not cleaned.isdigit():
        raise codes.INVALID_BOLETO(reason="length", expected=length)
    return cleaned


def mod10(digits: str) -> int:
    """FEBRABAN module 10: weights 2,1,2,1… from the right, digits of each product summed."""
    total = 0
    for index, ch in enumerate(reversed(digits)):
        product = int(ch) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def mod11_barcode(digits43: str) -> int:
    """The barcode's general check digit: module 11, weights 2..9 from the right; 0, 10, 11 → 1."""
    total = sum(int(ch) * (2 + index % 8) for index, ch in enumerate(reversed(digits43)))
    digit = 11 - total % 11
    return 1 if digit in (0, 10, 11) else digit


def bank_code_check_digit(bank_code: str) -> str:
    """The "dígito do banco" printed after the bank code (341-7, 001-9): module 11, weights 2..9
    from the right; a result of 10 or 11 prints as 0 (Caixa 104-0, Sicoob 756-0)."""
    code = _digits(bank_code, 3)
    digit = 11 - sum(int(ch) * (2 + index % 8) for index, ch in enumerate(reversed(code))) % 11
    return "0" if digit in (10, 11) else str(digit)


def bank_code_with_digit(bank_code: str) -> str:
    """'341' → '341-7', as the boleto's header prints it."""
    return f"{bank_code}-{bank_code_check_digit(bank_code)}"


def due_factor(due: date) -> str:
    """Days since 7 Oct 1997; from 22 Feb 2025 the count restarts at 1000 (and again every 9000 days)."""
    days = (due - FACTOR_BASE).days
    if days < 1000:
        raise codes.INVALID_BOLETO(reason="due_date")
    if days > 9999:
        days = (days - 10000) % 9000 + 1000
    return f"{days:04d}"


def due_date_from_factor(factor: str, reference: date) -> Optional[date]:
    """The due date a fator stands for: of its possible dates, the one nearest `reference`."""
    value = int(factor)
    if value == 0:
        return None  # no due date
    if value < 1000:
        raise codes.INVALID_BOLETO(reason="due_factor")
    candidates = [FACTOR_BASE + timedelta(days=value)] + [
        FACTOR_RESET + timedelta(days=value - 1000 + 9000 * cycle) for cycle in range(0, 4)]
    return min(candidates, key=lambda d: abs((d - reference).days))


def _amount_field(amount_cents: int) -> str:
    if not 0 <= amount_cents <= MAX_AMOUNT_CENTS:
        raise codes.INVALID_BOLETO(reason="amount")
    return f"{amount_cents:010d}"


def barcode(bank_code: str, due: date, amount_cents: int, free_field: str) -> str:
    free = _digits(free_field, 25)
    body = f"{bank_code}{CURRENCY_REAL}{due_factor(due)}{_amount_field(amount_cents)}{free}"
    return body[:4] + str(mod11_barcode(body)) + body[4:]


def digitable_line(code: str) -> str:
    """The 47 digits of the linha digitável for a 44-digit barcode."""
    code = _digits(code, 44)
    free = code[19:44]
    first = code[0:4] + free[0:5]
    second = free[5:15]
    third = free[15:25]
    return (first + str(mod10(first)) + second + str(mod10(second)) + third + str(mod10(third))
            + code[4] + code[5:19])


def format_digitable_line(line: str) -> str:
    """'00190.00009 07777.777009 00087.654182 6 49000000295295'."""
    line = _digits(line, 47)
    return (f"{line[0:5]}.{line[5:10]} {line[10:15]}.{line[15:21]} {line[21:26]}.{line[26:32]} "
            f"{line[32]} {line[33:47]}")


def barcode_from_line(line: str) -> str:
    """The barcode of a linha digitável, after checking its three field digits and the general one."""
    line = _digits(line, 47)
    fields = ((line[0:9], line[9], 1), (line[10:20], line[20], 2), (line[21:31], line[31], 3))
    for digits, check, number in fields:
        if mod10(digits) != int(check):
            raise codes.INVALID_BOLETO(reason=f"field_{number}_check_digit")
    code = line[0:4] + line[32] + line[33:47] + line[4:9] + line[10:20] + line[21:31]
    validate_barcode(code)
    return code


def validate_barcode(code: str) -> str:
    code = _digits(code, 44)
    if code[3] != CURRENCY_REAL:
        raise codes.INVALID_BOLETO(reason="currency")
    if mod11_barcode(code[:4] + code[5:]) != int(code[4]):
        raise codes.INVALID_BOLETO(reason="general_check_digit")
    return code


@dataclass(frozen=True)
class ParsedBoleto:
    bank_code: str
    due_date: Optional[date]
    amount_cents: int
    free_field: str


def parse(code_or_line: str, reference: date) -> ParsedBoleto:
    """Read a barcode (44) or a linha digitável (47), checking every digit."""
    digits = "".join(ch for ch in code_or_line if ch.isdigit())
    code = barcode_from_line(digits) if len(digits) == 47 else validate_barcode(code_or_line)
    return ParsedBoleto(bank_code=code[0:3], due_date=due_date_from_factor(code[5:9], reference),
                        amount_cents=int(code[9:19]), free_field=code[19:44])


# --- campo livre per bank -----------------------------------------------------------------------

@dataclass(frozen=True)
class BancoDoBrasilConvenio7:
    """Banco do Brasil, convênio de 7 dígitos (carteiras 17/18): nosso número = convênio + 10 digits."""

    convenio: str
    carteira: str = "18"
    bank_code: str = "001"
    # Nosso número of an invoice's first boleto = its invoice number; second copies count from here.
    second_copy_base: int = 5_000_000_000

    def free_field(self, sequence: int) -> str:
        return f"000000{self.convenio:0>7}{sequence:010d}{self.carteira:0>2}"

    def nosso_numero(self, sequence: int) -> str:
        return f"{self.convenio:0>7}{sequence:010d}"  # no check digit for 7-digit convênios


@dataclass(frozen=True)
class ItauCarteira109:
    """Itaú, carteiras 109/175 ("direta"): nosso número of 8 digits with a DAC over agência,
    conta, carteira and nosso número; then agência, conta and its own DAC."""

    agencia: str
    conta: str
    carteira: str = "109"
    bank_code: str = "341"
    second_copy_base: int = 50_000_000

    def _dac(self, sequence: int) -> int:
        return mod10(f"{self.agencia:0>4}{self.conta:0>5}{self.carteira}{sequence:08d}")

    def free_field(self, sequence: int) -> str:
        account_dac = mod10(f"{self.agencia:0>4}{self.conta:0>5}")
        return (f"{self.carteira}{sequence:08d}{self._dac(sequence)}{self.agencia:0>4}{self.conta:0>5}"
                f"{account_dac}000")

    def nosso_numero(self, sequence: int) -> str:
        return f"{self.carteira}/{sequence:08d}-{self._dac(sequence)}"


@dataclass(frozen=True)
class BoletoCodes:
    """What a boleto's numbers say: the bank, the nosso número, the due date and amount, and the
    barcode and linha digitável that encode them. (The boleto issued for an invoice, with its
    status, is `domain.documents.Boleto`.)"""

    bank_code: str
    nosso_numero: str
    due_date: date
    amount_cents: int
    barcode: str
    digitable_line: str


def make_boleto(layout, sequence: int, due: date, amount_cents: int) -> BoletoCodes:
    code = barcode(layout.bank_code, due, amount_cents, layout.free_field(sequence))
    return BoletoCodes(bank_code=layout.bank_code, nosso_numero=layout.nosso_numero(sequence), due_date=due,
                       amount_cents=amount_cents, barcode=code, digitable_line=digitable_line(code))


# --- second copy --------------------------------------------------------------------------------

def late_charges(amount_cents: int, days_late: int, fine_rate: Decimal = Decimal("0.02"),
                 monthly_interest: Decimal = Decimal("0.01")) -> Tuple[int, int]:
    """(fine, interest) on V paid `days_late` days late: round(V × fine) and round(V × interest / 30 ×
    days late), each rounded once; (0, 0) when not late. What `late_amount` adds and what the
    second copy's preview shows, part by part."""
    if days_late <= 0:
        return 0, 0
    fine = round_cents(Decimal(amount_cents) * fine_rate)
    # One division, last: exact half-centavos stay exact until the one rounding.
    interest = round_cents(Decimal(amount_cents) * monthly_interest * days_late / 30)
    return fine, interest


def late_amount(amount_cents: int, days_late: int, fine_rate: Decimal = Decimal("0.02"),
                monthly_interest: Decimal = Decimal("0.01")) -> int:
    """V + round(V × fine) + round(V × interest / 30 × days late): each part rounded once."""
    fine, interest = late_charges(amount_cents, days_late, fine_rate, monthly_interest)
    return amount_cents + fine + interest


# --- the bank's answer ----------------------------------------------------------------------------

def check_bank_codes(ours: BoletoCodes, bank_barcode: Optional[str], bank_line: Optional[str]) -> None:
    """The barcode and linha digitável a bank answered must be the boleto we computed (FEBRABAN's
    maths: every check digit, and the same bank, due date, amount and campo livre). A mismatch
    would print a boleto that pays something else, or nothing: raised as `bank_codes_mismatch`."""
    for what, value in (("barcode", bank_barcode), ("digitable_line", bank_line)):
        if value is None:
            continue
        digits = "".join(ch for ch in value if ch.isdigit())
        try:
            code = barcode_from_line(digits) if len(digits) == 47 else validate_barcode(digits)
        except InvalidBoleto:
            raise codes.BANK_CODES_MISMATCH(field=what, reason="check_digits") from None
        if code != ours.barcode:
            raise codes.BANK_CODES_MISMATCH(field=what, reason="different_boleto")
