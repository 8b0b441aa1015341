"""A Brazilian postal address as the national NFS-e asks for the service taker's: CEP, street,
number, complement, district, and the município by its IBGE code (with its name and state).

Pure. `normalize_address` (to be completed: the Addresses task) validates what onboarding and the
back office send and answers the stored value or raises InvalidInput naming the field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Address:
    cep: str  # 8 digits, no punctuation
    street: str  # logradouro
    number: str  # número ("S/N" when there is none)
    district: str  # bairro
    city_code: str  # the município's 7-digit IBGE code
    city: str  # its name, as IBGE spells it
    state: str  # UF, two letters
    complement: Optional[str] = None
