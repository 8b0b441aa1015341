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

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Dict, List, Optional, Protocol, Tuple

from ..domain import pix

from ..domain import boleto as boleto_rules
from ..domain.addresses import Address
from ..domain.proration import round_cents


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
    # What the juros de mora accrue on (None: the amount). A second copy's amount already holds the
    # fine and interest up to its due date: its interest runs on the open balance, with no new fine.
    interest_base_cents: Optional[int] = None


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
        """What the bank says of the boleto now. Raises BankRejected for a boleto it does not know."""

    def webhook_token(self) -> str:
        """The secret the bank's webhook calls must present (set where the webhook URL is registered)."""

    def notified_boletos(self, body: bytes) -> List[str]:
        """The nosso números a webhook call says changed, read from the bank's own format. Only a
        hint: nothing is settled on its word, each is confirmed with `query`."""


class SimulatedBank:
    """A bank's cobrança API, in memory: what `Bank` promises and what a real bank refuses.

    Like a real bank it checks the digits it is sent against the amount and due date, refuses a
    boleto without the payer's address, generates a dynamic Pix per boleto (a BR Code naming its
    own location), keeps the fine and interest terms and charges them on a late payment, and stops
    a boleto and its Pix being paid once it is cancelled (baixa) or past its limit day. Tests and
    the local stack pay boletos with `pay` / `pay_pix` and read the webhook the bank would send
    with `webhook_body`.
    """

    LOCATION_PREFIX = "pix.banco-simulado.invalid/cobv/"

    def __init__(self, *, webhook_token: str = "simulated-webhook-token", merchant_name: str = "BANCO SIMULADO",
                 merchant_city: str = "Sao Paulo"):
        self._webhook_token = webhook_token
        self._merchant = (merchant_name, merchant_city)
        self._boletos: Dict[str, Dict] = {}  # nosso número → {"request", "registration", "state", "paid"}
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

    def register(self, request: BoletoRequest) -> Registration:
        with self._lock:
            self.calls.append(("register", request.nosso_numero))
            if self._failures_left > 0:
                self._failures_left -= 1
                raise BankUnavailable("simulated bank outage")
            parsed = boleto_rules.parse(request.barcode, reference=request.due_date)  # a bank refuses bad digits too
            if parsed.amount_cents != request.amount_cents or parsed.due_date != request.due_date:
                raise BankRejected((("VALOR_VENCIMENTO", "código de barras não confere com valor e vencimento"),))
            if request.payer.address is None:
                raise BankRejected((("PAGADOR_ENDERECO", "endereço do pagador obrigatório"),))
            known = self._boletos.get(request.nosso_numero)
            if known is not None:
                if known["state"] != REGISTERED:
                    raise BankRejected((("NOSSO_NUMERO", "nosso número já utilizado por título baixado ou liquidado"),))
                return known["registration"]
            txid = uuid.uuid4().hex
            location = self.LOCATION_PREFIX + txid
            expires_on = request.due_date + timedelta(days=request.payable_days_after_due)
            charge = PixCharge(emv=pix.dynamic_payload(location_url=location, merchant_name=self._merchant[0],
                                                       merchant_city=self._merchant[1],
                                                       amount_cents=request.amount_cents),
                               location_url=location, txid=txid, expires_on=expires_on)
            registration = Registration(str(uuid.uuid4()), request.nosso_numero, "registered",
                                        barcode=request.barcode,
                                        digitable_line=boleto_rules.digitable_line(request.barcode), pix=charge)
            self._boletos[request.nosso_numero] = {"request": request, "registration": registration,
                                                   "state": REGISTERED, "paid": None}
            return registration

    def cancel(self, nosso_numero: str) -> None:
        with self._lock:
            self.calls.append(("cancel", nosso_numero))
            if self._cancel_failures_left > 0:
                self._cancel_failures_left -= 1
                raise BankUnavailable("simulated bank outage")
            known = self._boletos.get(nosso_numero)
            if known is not None and known["state"] == REGISTERED:
                known["state"] = CANCELLED

    def query(self, nosso_numero: str) -> BoletoAtBank:
        with self._lock:
            known = self._boletos.get(nosso_numero)
            if known is None:
                raise BankRejected((("NAO_ENCONTRADO", f"título {nosso_numero} não encontrado"),))
            paid = known["paid"] or {}
            return BoletoAtBank(nosso_numero=nosso_numero, state=known["state"],
                                amount_cents=known["request"].amount_cents, paid_cents=paid.get("cents"),
                                paid_on=paid.get("on"), channel=paid.get("channel"))

    def webhook_token(self) -> str:
        return self._webhook_token

    def notified_boletos(self, body: bytes) -> List[str]:
        return bb_webhook_ids(body)

    # --- what tests and the local stack do as the payer and the bank ------------------------------

    def is_registered(self, nosso_numero: str) -> bool:
        """Registered and still payable (not cancelled, not paid)."""
        known = self._boletos.get(nosso_numero)
        return known is not None and known["state"] == REGISTERED

    def nosso_numeros(self) -> List[str]:
        """Every boleto the bank holds (whatever its state), in the order registered."""
        return list(self._boletos)

    def registered(self, nosso_numero: str) -> BoletoRequest:
        """The request the boleto was registered with (its terms, its payer)."""
        return self._boletos[nosso_numero]["request"]

    def amount_due(self, nosso_numero: str, on: date) -> int:
        """What the bank charges on `on`: the amount, plus the registered fine and interest when late."""
        return _charged(self._boletos[nosso_numero]["request"], on)

    def pay(self, nosso_numero: str, on: date, amount_cents: Optional[int] = None, channel: str = "boleto") -> int:
        """The payer pays the boleto on `on` (by default what the bank charges that day). Refused
        as a bank refuses it: cancelled, already paid, or past its limit day. Answers the amount paid."""
        with self._lock:
            known = self._boletos.get(nosso_numero)
            if known is None or known["state"] != REGISTERED:
                raise BankRejected((("NAO_PAGAVEL", f"título {nosso_numero} não está em aberto"),))
            request = known["request"]
            if on > request.due_date + timedelta(days=request.payable_days_after_due):
                raise BankRejected((("NAO_PAGAVEL", f"título {nosso_numero} vencido há mais de "
                                     f"{request.payable_days_after_due} dias"),))
            cents = amount_cents if amount_cents is not None else _charged(request, on)
            known["state"], known["paid"] = PAID, {"cents": cents, "on": on, "channel": channel}
            return cents

    def pay_pix(self, emv: str, on: date) -> int:
        """The payer pays the Pix "copia e cola": found by the location its BR Code names."""
        location = pix.dynamic_location(emv)
        for nosso_numero, known in list(self._boletos.items()):
            charge = known["registration"].pix
            if charge is not None and charge.location_url == location:
                return self.pay(nosso_numero, on, channel="pix")
        raise BankRejected((("PIX_NAO_ENCONTRADO", "cobrança Pix inexistente"),))

    def webhook_body(self, *nosso_numeros: str) -> bytes:
        """What the bank's webhook posts after the boletos' payment (Banco do Brasil's format, its
        amounts as the bank writes them: the product never reads them, it asks `query`)."""
        items = []
        for nosso_numero in nosso_numeros:
            known = self._boletos[nosso_numero]
            paid = known["paid"] or {}
            items.append({"id": "000" + nosso_numero, "valorOriginal": known["request"].amount_cents / 100,
                          "valorPagoSacado": (paid.get("cents") or 0) / 100,
                          "dataLiquidacao": paid["on"].strftime("%d.%m.%Y") if paid.get("on") else None,
                          "codigoEstadoBaixaOperacional": 1 if known["state"] == PAID else 0,
                          "canal": paid.get("channel")})
        return json.dumps(items).encode()


def bb_webhook_ids(body: bytes, convenio: Optional[str] = None) -> List[str]:
    """The nosso números (17 digits) a Banco do Brasil boletos webhook names: a JSON array of
    objects (or one object) whose `id` is the numeroTituloCliente, "000" + the nosso número; with
    `convenio`, only that convênio's. Anything else names nothing. (The simulator and
    adapters/bb_cobranca.py read it alike.)"""
    try:
        content = json.loads(body or b"null")
    except ValueError:
        return []
    items = content if isinstance(content, list) else [content]
    found: List[str] = []
    for item in items:
        identifier = item.get("id") if isinstance(item, dict) else None
        if isinstance(identifier, int) and not isinstance(identifier, bool):
            identifier = f"{identifier:020d}"
        if not isinstance(identifier, str) or not identifier.isdigit():
            continue
        identifier = identifier.zfill(20)
        if len(identifier) == 20 and identifier[:3] == "000" and identifier[3:] not in found \
                and (convenio is None or identifier[3:10] == convenio):
            found.append(identifier[3:])
    return found


def _charged(request: BoletoRequest, on: date) -> int:
    """What a bank charges for the boleto on `on`: its amount, plus (late) the fine on the amount and
    the interest on `interest_base_cents` (the amount when not given)."""
    days = (on - request.due_date).days
    if days <= 0:
        return request.amount_cents
    fine = boleto_rules.late_amount(request.amount_cents, days, request.fine_rate, Decimal(0)) - request.amount_cents
    if request.interest_base_cents is None:
        interest = boleto_rules.late_amount(request.amount_cents, days, Decimal(0), request.monthly_interest) \
            - request.amount_cents
    else:  # registered as a value per day (jurosMora tipo 1), rounded once: the bank multiplies it
        interest = round_cents(Decimal(request.interest_base_cents) * request.monthly_interest / 30) * days
    return request.amount_cents + fine + interest
