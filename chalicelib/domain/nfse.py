"""The national NFS-e as values: the reseller's fiscal registration and service terms (data,
from settings), the DPS (Declaração de Prestação de Serviço) the product declares for an invoice,
and the emitter's answer when it rejects one. Pure: `chalicelib/fiscal` turns a `Dps` into the
layout's XML, the emitter adapters send it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Optional, Tuple

from .addresses import Address

# tpAmb: which national environment receives the DPS.
PRODUCTION = "1"
RESTRICTED_PRODUCTION = "2"  # "produção restrita": the Sefin's test environment


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
    """"DPS" + município (7) + inscription type (1: CNPJ… per layout, 2 for CNPJ) + inscription
    (14) + series (5) + number (15): 45 characters. To be completed by the fiscal core task."""
    raise NotImplementedError


@dataclass(frozen=True)
class Rejection:
    """One reason the Sefin gave for refusing a DPS or an event: its code (E…) and its words."""

    code: str
    message: str
    detail: Optional[str] = None


Rejections = Tuple[Rejection, ...]
