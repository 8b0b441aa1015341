"""The contract and its acceptance by the Master."""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, Optional

from ..domain import contract as contract_rules
from ..domain import error_codes as codes
from ..domain.clock import iso
from ..domain.contract import Contract
from . import audit
from .caller import Caller


def contract_view(contract: Contract) -> Dict[str, Any]:
    return {
        "id": contract.id, "organization_id": contract.organization_id, "status": contract.status,
        "payment_method": contract.payment_method, "closing_day": contract.closing_day,
        "billing_contacts": list(contract.billing_contacts),
        "items": [{"sku": i.sku, "name": i.name, "quantity": i.quantity} for i in contract.items],
        "accepted_at": contract.accepted_at, "accepted_by": contract.accepted_by,
        "accepted_from_ip": contract.accepted_from_ip, "accepted_version": contract.accepted_version,
        "terminated_at": contract.terminated_at, "final_invoice_due": contract.final_invoice_due,
        "version": contract.version,
    }


def get_contract(deps, caller: Caller) -> Contract:
    return deps.contracts.get(caller.organization_id)


def accept_contract(deps, caller: Caller, *, expected_version: Optional[int]) -> Contract:
    contract = deps.contracts.get(caller.organization_id)
    if expected_version is not None and expected_version != contract.version:
        raise codes.VERSION_CONFLICT()
    before = contract_view(contract)
    accepted = contract_rules.accept(
        replace(contract, version=contract.version + 1), user_id=caller.user.id, at=iso(deps.clock()),
        source_ip=caller.source_ip, document_version=deps.settings.contract_version,
    )
    deps.contracts.save(accepted, expected_version=contract.version, audit=audit.entry(
        deps, caller.actor, caller.organization_id, "contract.accepted", f"contract:{contract.id}",
        before=before, after=contract_view(accepted)))
    return accepted
