"""Key builders for the one table. Every key in the code is made here, never by ad-hoc f-strings."""
from __future__ import annotations

ORGANIZATIONS_INDEX_PK = "ORGS"
ORGANIZATION_SK = "ORG"
CONTRACT_SK = "CONTRACT"
USER_SK = "USER"
CATALOG_PK = "CATALOG"


def org_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}"


def org_name_sk(name: str, organization_id: str) -> str:
    return f"NAME#{name.casefold()}#{organization_id}"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def org_users_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}#USERS"


def user_email_sk(email: str) -> str:
    return f"EMAIL#{email}"


def audit_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}#AUDIT"


def audit_sk(at_iso: str, entry_id: str) -> str:
    # ISO instants in UTC sort lexically in time order; the id breaks ties.
    return f"{at_iso}#{entry_id}"


def idempotency_pk(scope: str) -> str:
    return f"IDEMPOTENCY#{scope}"


def idempotency_sk(key: str) -> str:
    return f"KEY#{key}"


def product_sk(sku: str) -> str:
    return f"PRODUCT#{sku}"


def email_delivery_pk(delivery_key: str) -> str:
    return f"EMAIL#{delivery_key}"
