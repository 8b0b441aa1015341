"""The national NFS-e as values: the reseller's fiscal registration and service terms (data,
from settings), the DPS (Declaração de Prestação de Serviço) the product declares for an invoice,
and the emitter's answer when it rejects one. Pure: `chalicelib/fiscal` turns a `Dps` into the
layout's XML, the emitter adapters send it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Optional, Tuple

from .addresses import Address
from .clock import SAO_PAULO

if TYPE_CHECKING:
    from .billing import Invoice
    from .organizations import Organization

# tpAmb: which national environment receives the DPS.
PRODUCTION = "1"
RESTRICTED_PRODUCTION = "2"  # "produção restrita": the Sefin's test environment

# Tipo de inscrição federal, as the DPS and NFS-e ids write it.
INSCRIPTION_CPF = "1"
INSCRIPTION_CNPJ = "2"

# verAplic: which program wrote the DPS or the event (1 to 20 characters).
APPLICATION_VERSION = "csp-portal-1.0"
# serie: one series for every DPS the portal declares (this one unless settings.nfse_dps_series says
# another); its numbers are the invoice numbers, which never repeat (a re-issued invoice takes a new
# one), so the DPS ids never repeat either.
DPS_SERIES = "1"


@dataclass(frozen=True)
class ProviderRegistration:
    """The reseller (prestador) as the municipality and the Receita know it."""

    cnpj: str
    name: str
    municipal_registration: Optional[str]  # IM; some municipalities require it
    city_code: str  # IBGE code of the municipality where it is established (cLocEmi)
    simples_nacional: str  # opSimpNac: 1 não optante, 2 MEI, 3 ME/EPP
    special_regime: str  # regEspTrib: 0 nenhum … (layout table)


@dataclass(frozen=True)
class ServiceTerms:
    """What the note declares the service is and how ISS applies to it."""

    national_code: str  # cTribNac, 6 digits (item, subitem, desdobro of LC 116: 01.05.01)
    nbs_code: Optional[str]  # cNBS, 9 digits
    description: str  # xDescServ
    municipal_code: Optional[str]  # cTribMun, when the municipality has one
    iss_taxation: str  # tribISSQN: 1 operação tributável …
    iss_withholding: str  # tpRetISSQN: 1 não retido, 2 retido pelo tomador, 3 pelo intermediário
    iss_rate: Optional[str]  # a decimal fraction ("0.029"); None when the municipality's rate applies
    total_taxes_indicator: str  # indTotTrib (0: não informar o valor aproximado dos tributos)


@dataclass(frozen=True)
class Taker:
    """The customer (tomador)."""

    cnpj: str
    name: str
    email: Optional[str]
    address: Optional[Address]


@dataclass(frozen=True)
class Dps:
    """One DPS: everything its XML carries. Its id is derived from the provider, the series and the
    number (the invoice number), so declaring an invoice twice declares the same DPS, which the
    Sefin answers once."""

    environment: str  # tpAmb
    issued_at: datetime  # dhEmi, aware; written in São Paulo time without fractions
    series: str  # serie, up to 5 digits
    number: int  # nDPS: the invoice number
    competence: date  # dCompet
    provider: ProviderRegistration
    taker: Taker
    terms: ServiceTerms
    service_city_code: str  # cLocPrestacao
    amount_cents: int  # vServ
    application_version: str  # verAplic
    notes: Optional[str] = None  # infCpl

    @property
    def id(self) -> str:
        return dps_id(self.provider.city_code, self.provider.cnpj, self.series, self.number)


def dps_id(city_code: str, cnpj: str, series: str, number: int) -> str:
    """"DPS" + município (7) + tipo de inscrição (1 CPF, 2 CNPJ) + inscrição (14, a CPF padded with
    zeros on the left) + série (5) + número (15): "DPS" and 42 digits, as TSIdDPS asks.

    ValueError for what the layout cannot number (an alphanumeric CNPJ: layout 1.01 still writes
    CNPJs as 14 digits)."""
    if not re.fullmatch(r"[0-9]{7}", city_code or ""):
        raise ValueError(f"the municipality's IBGE code must be 7 digits: {city_code!r}")
    if re.fullmatch(r"[0-9]{14}", cnpj or ""):
        inscription = INSCRIPTION_CNPJ + cnpj
    elif re.fullmatch(r"[0-9]{11}", cnpj or ""):
        inscription = INSCRIPTION_CPF + cnpj.zfill(14)
    else:
        raise ValueError(f"a DPS is numbered by a numeric CNPJ (14) or CPF (11): {cnpj!r}")
    if not re.fullmatch(r"[0-9]{1,5}", series or ""):
        raise ValueError(f"the DPS series is up to 5 digits: {series!r}")
    if not 0 < number < 10 ** 15:
        raise ValueError(f"the DPS number is 1 to 15 digits: {number!r}")
    return f"DPS{city_code}{inscription}{series.zfill(5)}{number:015d}"


def money(cents: int) -> str:
    """Centavos as the layout writes reais (TSDec15V2): 123456 -> "1234.56", 0 -> "0.00"."""
    if isinstance(cents, bool) or not isinstance(cents, int) or cents < 0:
        raise ValueError(f"an amount in the DPS is a non-negative integer of centavos: {cents!r}")
    return f"{cents // 100}.{cents % 100:02d}"


def iss_percent(rate: str) -> str:
    """The ISS rate as a fraction ("0.029") as pAliq writes it, a percentage with two decimals
    (TSDec1V2, one integer digit): "2.90". ISS goes from 2% to 5%, so a rate of 10% or more (or a
    percentage given by mistake: "2.9") is refused rather than written wrong."""
    try:
        fraction = Decimal(str(rate))
    except InvalidOperation as error:
        raise ValueError(f"the ISS rate is a decimal fraction such as 0.029: {rate!r}") from error
    percent = (fraction * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if not fraction.is_finite() or percent < 0 or percent >= 10:
        raise ValueError(f"the ISS rate is a decimal fraction below 0.10, such as 0.029: {rate!r}")
    return f"{percent:.2f}"


def local_timestamp(instant: datetime) -> str:
    """An instant as dhEmi/dhEvento want it: São Paulo time, whole seconds, the offset written
    ("2026-11-30T09:00:00-03:00"); the layout refuses fractions and "Z"."""
    if instant.tzinfo is None:
        raise ValueError("the instant must be timezone-aware")
    return instant.astimezone(SAO_PAULO).replace(microsecond=0).isoformat()


def dps_for_invoice(invoice: "Invoice", organization: "Organization", registration: ProviderRegistration,
                    terms: ServiceTerms, *, environment: str, issued_at: datetime,
                    application_version: str = APPLICATION_VERSION, series: str = DPS_SERIES) -> Dps:
    """The DPS that declares an invoice: numbered by the invoice (so a retry declares the same
    one), competence the period's last day, the invoice's total, the service provided where the
    reseller is established, the customer as taker with its address when the portal has it; in
    `series` (settings.nfse_dps_series)."""
    taker = Taker(cnpj=organization.cnpj or "", name=organization.name, email=None,
                  address=organization.address)
    return Dps(environment=environment, issued_at=issued_at, series=series, number=invoice.number,
               competence=invoice.period_end, provider=registration, taker=taker, terms=terms,
               service_city_code=registration.city_code, amount_cents=invoice.total_cents,
               application_version=application_version,
               notes=(f"Fatura nº {invoice.number}, período de {invoice.period_start:%d/%m/%Y} "
                      f"a {invoice.period_end:%d/%m/%Y}."))


# The product's own code for a DPS it could not sign (the A1 certificate missing or invalid):
# recorded on the invoice as the Sefin's E-codes are.
CERTIFICATE_UNAVAILABLE = "A1-INDISPONIVEL"


@dataclass(frozen=True)
class Rejection:
    """One reason the Sefin gave for refusing a DPS or an event: its code (E…) and its words."""

    code: str
    message: str
    detail: Optional[str] = None


Rejections = Tuple[Rejection, ...]
