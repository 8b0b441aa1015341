"""The public contract request ("formulário de contratação") and what makes it valid."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import List, Optional

from . import error_codes as codes

NEW = "new"
CONVERTED = "converted"
SPECIALISTS = "specialists"  # an existing Microsoft online customer: the specialists call them (FAQ)
STATUSES = (NEW, SPECIALISTS, CONVERTED)

_DOMAIN = re.compile(r"^(?=.{3,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


@dataclass
class Lead:
    id: str
    cnpj: str
    company_name: str
    contact_name: str
    email: str
    phone: str
    products_of_interest: List[str]
    existing_microsoft_customer: bool
    tenant_domain: Optional[str]
    status: str
    created_at: str
    source_ip: Optional[str] = None
    organization_id: Optional[str] = None
    converted_by: Optional[str] = None
    history: List[str] = field(default_factory=list)


# The area codes (DDD) in use, per ANATEL's national numbering plan.
DDDS = frozenset({11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38,
                  41, 42, 43, 44, 45, 46, 47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69,
                  71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85, 86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99})


def is_valid_national_phone(digits: str) -> bool:
    """DDD + 8 digits starting 2–5 (a landline) or DDD + 9 digits starting with 9 (a mobile)."""
    if not digits.isdigit() or int(digits[:2] or 0) not in DDDS:
        return False
    number = digits[2:]
    return (len(number) == 8 and number[0] in "2345") or (len(number) == 9 and number[0] == "9")


def normalize_phone(raw: str) -> str:
    """A Brazilian phone in E.164: '(11) 3179-6900' → '+551131796900'; mobiles have 9 digits."""
    digits = re.sub(r"\D", "", raw or "")
    if digits.startswith("55") and len(digits) in (12, 13):
        digits = digits[2:]
    if digits.startswith("0") and len(digits) in (11, 12):
        digits = digits[1:]  # a trunk prefix: 0 11 3179-6900
    if not is_valid_national_phone(digits):
        raise codes.INVALID_PHONE(field="phone")
    return f"+55{digits}"


def normalize_tenant_domain(raw: Optional[str], existing_customer: bool) -> Optional[str]:
    """The Microsoft 365 tenant of an existing customer ('empresa.onmicrosoft.com' or its own domain)."""
    if not existing_customer:
        return None
    domain = (raw or "").strip().lower().rstrip(".")
    if not _DOMAIN.match(domain):
        raise codes.INVALID_TENANT_DOMAIN(field="tenant_domain")
    return domain


def status_for(existing_customer: bool) -> str:
    return SPECIALISTS if existing_customer else NEW
