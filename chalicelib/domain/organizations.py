"""Customer organisations and the CNPJ that identifies them."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from . import error_codes as codes
from .addresses import Address


@dataclass
class Organization:
    id: str
    name: str  # razão social
    cnpj: Optional[str]
    tenant_domain: Optional[str] = None
    masters_count: int = 0
    created_at: Optional[str] = None
    # Where the company is established: the NFS-e's taker address. None for customers onboarded
    # before it was asked (the back office completes it).
    address: Optional[Address] = None
    # Said by the lead's form ("já é cliente Microsoft online"): the licence provider links its
    # tenant (`tenant_domain`) instead of creating one.
    existing_microsoft_customer: bool = False
    # Its customer (tenant) id at the licence provider, recorded by the provisioning worker before
    # its first order (services/provisioning.microsoft_customer_id); None until then.
    microsoft_customer_id: Optional[str] = None
    # Moves with each edit of the organisation's own data (its address), for If-Match; not with
    # `masters_count`, which its users' changes keep.
    version: int = 1


_CNPJ_WEIGHTS_1 = (5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)
_CNPJ_WEIGHTS_2 = (6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2)


def _cnpj_digit(body: str, weights) -> int:
    # Alphanumeric CNPJ (from July 2026): each character counts as its ASCII code minus 48,
    # which leaves the digits 0-9 as they were.
    total = sum((ord(ch) - 48) * w for ch, w in zip(body, weights))
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def normalize_cnpj(raw: str) -> str:
    """The 14-character CNPJ without punctuation, check digits verified; else InvalidInput."""
    cnpj = re.sub(r"[.\-/\s]", "", (raw or "")).upper()
    if not re.fullmatch(r"[0-9A-Z]{12}[0-9]{2}", cnpj) or len(set(cnpj)) == 1:
        raise codes.INVALID_CNPJ(field="cnpj")
    first = _cnpj_digit(cnpj[:12], _CNPJ_WEIGHTS_1)
    second = _cnpj_digit(cnpj[:12] + str(first), _CNPJ_WEIGHTS_2)
    if cnpj[12:] != f"{first}{second}":
        raise codes.INVALID_CNPJ(field="cnpj")
    return cnpj


def format_cnpj(cnpj: str) -> str:
    return f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
