"""Boleto registration ("registro") at the bank, behind an interface.

Since 2017 every boleto is registered with the bank before it can be paid. `SimulatedBank` stands in
for a bank's cobrança API locally: it validates the digits it is sent and keeps the registrations,
idempotent per nosso número, as a bank's API is.
"""
from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Dict, List, Protocol, Tuple

from ..domain import boleto as boleto_rules


class BankUnavailable(Exception):
    """A transient failure at the bank: try again later."""


@dataclass(frozen=True)
class Registration:
    registration_id: str
    nosso_numero: str
    status: str  # "registered"


class Bank(Protocol):
    def register(self, *, barcode: str, nosso_numero: str, due_date: date, amount_cents: int,
                 payer_document: str, payer_name: str) -> Registration: ...

    def cancel(self, nosso_numero: str) -> None: ...


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
