"""Boleto registration ("registro") at the bank, behind an interface.

Since 2017 every boleto is registered with the bank before it can be paid. `Bank` is what the
product needs from a bank's cobrança API: register a boleto with the fine and interest the bank
itself charges after the due date, getting back its codes and the hybrid boleto's dynamic Pix
(a BR Code naming the bank's location URL, payable until the boleto is); cancel it (baixa, which
takes its Pix with it); and ask what became of it (paid, on which day, how much).

`SimulatedBank` stands in for a bank's API locally and in tests. `adapters/bb_cobranca.py` is
Banco do Brasil's API Cobranças v2 (BANK_PROVIDER=real).
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Dict, List, Optional, Protocol, Tuple

from ..domain import boleto as boleto_rules
from ..domain.addresses import Address


class BankUnavailable(Exception):
    """A transient failure at the bank (outage, timeout, throttling): try again later."""


class BankRejected(Exception):
    """The bank refused the request for what it says (a validation error): sending it again as is
    would be refused again. `errors` are the bank's (code, message) pairs."""

    def __init__(self, errors: Tuple[Tuple[str, str], ...]):
        super().__init__("; ".join(f"{code}: {message}" for code, message in errors) or "refused by the bank")
        self.errors = errors


@dataclass(frozen=True)
class Payer:
    """The pagador as the bank registers it: a bank refuses a boleto without the address."""

    document: str  # CNPJ (14 characters) or CPF (11 digits), no punctuation
    name: str
    address: Optional[Address]


@dataclass(frozen=True)
class BoletoRequest:
    """A boleto to register: our codes (the bank must answer the same), the amount and due date,
    and the terms the bank applies after the due date."""

    nosso_numero: str
    barcode: str  # ours, from domain.boleto: the bank's must encode the same boleto
    issued_on: date  # data de emissão / processamento
    due_date: date
    amount_cents: int
    document_number: str  # seu número: "FAT-123" (the invoice)
    document_kind: str  # espécie do título: "DS" (duplicata de serviço)
    fine_rate: Decimal  # multa, a fraction of the amount (0.02), from the day after the due date
    monthly_interest: Decimal  # juros de mora, a fraction per month (0.01), pro rata die
    payable_days_after_due: int  # the bank refuses the boleto (and its Pix) after this many days
    payer: Payer


@dataclass(frozen=True)
class PixCharge:
    """The hybrid boleto's Pix: a dynamic BR Code (cobrança com vencimento) the bank generated."""

    emv: str  # the "copia e cola" payload, its CRC valid, naming `location_url`
    location_url: str  # where a payer's bank fetches the charge (without scheme, as in the BR Code)
    txid: str
    expires_on: Optional[date]  # the last day it is payable (the boleto's limit)


@dataclass(frozen=True)
class Registration:
    registration_id: str
    nosso_numero: str
    status: str  # "registered"
    # As the bank answered them (None from a bank that does not answer them).
    barcode: Optional[str] = None
    digitable_line: Optional[str] = None
    pix: Optional[PixCharge] = None


REGISTERED, PAID, CANCELLED = "registered", "paid", "cancelled"


@dataclass(frozen=True)
class BoletoAtBank:
    """What the bank says of a boleto now."""

    nosso_numero: str
    state: str  # REGISTERED, PAID or CANCELLED (baixado)
    amount_cents: int
    paid_cents: Optional[int] = None  # what the payer paid (fine and interest included)
    paid_on: Optional[date] = None
    channel: Optional[str] = None  # how it was paid, as the bank says ("pix", "boleto")


class Bank(Protocol):
    def register(self, request: BoletoRequest) -> Registration:
        """Register the boleto (repeat-safe per nosso número: the same registration again).
        Raises BankRejected or BankUnavailable."""

    def cancel(self, nosso_numero: str) -> None:
        """Baixa: the boleto and its Pix are no longer payable. Repeat-safe."""

    def query(self, nosso_numero: str) -> BoletoAtBank:
        """What the bank says of the boleto now."""


class SimulatedBank:
    def __init__(self):
        self._registrations: Dict[str, Registration] = {}
        self._cancelled: set = set()
        self._lock = threading.Lock()
        self._failures_left = 0
        self._cancel_failures_left = 0
        # Every call that reached the bank, in order: ("register" | "cancel", nosso número). Tests
        # count them (one registration per second copy, one cancellation per cancelled invoice).
        self.calls: List[Tuple[str, str]] = []

    def fail_next(self, count: int) -> None:
        """The next `count` registrations fail as an outage would."""
        self._failures_left = count

    def fail_next_cancel(self, count: int) -> None:
        """The next `count` cancellations fail as an outage would."""
        self._cancel_failures_left = count

    def calls_of(self, kind: str) -> List[str]:
        return [nosso_numero for call, nosso_numero in self.calls if call == kind]

    def register(self, *, barcode: str, nosso_numero: str, due_date: date, amount_cents: int,
                 payer_document: str, payer_name: str) -> Registration:
        with self._lock:
            self.calls.append(("register", nosso_numero))
            if self._failures_left > 0:
                self._failures_left -= 1
                raise BankUnavailable("simulated bank outage")
            parsed = boleto_rules.parse(barcode, reference=due_date)  # a bank refuses bad digits too
            if parsed.amount_cents != amount_cents or parsed.due_date != due_date:
                raise ValueError("barcode does not match the registered amount or due date")
            if nosso_numero not in self._registrations:
                self._registrations[nosso_numero] = Registration(str(uuid.uuid4()), nosso_numero, "registered")
            return self._registrations[nosso_numero]

    def cancel(self, nosso_numero: str) -> None:
        with self._lock:
            self.calls.append(("cancel", nosso_numero))
            if self._cancel_failures_left > 0:
                self._cancel_failures_left -= 1
                raise BankUnavailable("simulated bank outage")
            self._cancelled.add(nosso_numero)

    def is_registered(self, nosso_numero: str) -> bool:
        return nosso_numero in self._registrations and nosso_numero not in self._cancelled
