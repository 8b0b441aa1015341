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


def normalize_phone(raw: str) -> str:
    """A Brazilian phone in E.164: '(11) 3179-6900' → '+551131796900'; mobiles have 9 digits."""
    digits = re.sub(r"\D", "", raw or "")
    if digits.startswith("55") and len(digits) in (12, 13):
        digits = digits[2:]
    if digits.startswith("0") and len(digits) in (11, 12):
        digits = digits[1:]  # a trunk prefix: 0 11 3179-6900
    valid = len(digits) in (10, 11) and digits[0] != "0" and digits[1] != "0" and \
        (len(digits) == 10 or digits[2] == "9")
    if not valid:
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
