"""Rescission ("rescisão de contrato"): every licence to zero, then the contract closes.

The contract closes when the last subscription reaches zero (at once inside the cancellation
window, at renewal outside it): `contracts.close_contract_if_all_zero`, called by the
provisioning worker."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional, Protocol

from ..domain import contract as contract_rules
from ..domain import subscriptions as rules
from ..domain import error_codes as codes
from ..domain.clock import local_day
from ..domain.ids import new_id
from ..schemas import array, enum, nullable, shape, text
from . import audit, contracts
from .caller import Caller
from .subscriptions import QUANTITY_CHANGE, change_view, notify_cancellation, plan_change, save_planned, with_protocol

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from .contracts import ContractClosingDeps
    from .subscriptions import CancellationNoticeDeps, SubscriptionChangeDeps

    class RescissionDeps(SubscriptionChangeDeps, ContractClosingDeps, CancellationNoticeDeps, Protocol):
        """Every subscription's change to zero, the Masters and administrators told (one email, one
        protocol), and the contract closed when none is left."""


TERMINATION = shape("Termination", description="A rescisão pedida: o estado do contrato, o protocolo (null quando "
                    "nada restava a cancelar) e a alteração a zero de cada assinatura (agora ou na renovação).",
                    status=enum(contract_rules.STATUSES), protocol=nullable(text()), changes=array(QUANTITY_CHANGE))


def terminate_contract(deps: RescissionDeps, caller: Caller, *, reason_text: Optional[str]) -> Dict[str, Any]:
    """Every subscription to zero with "rescisao_contrato".

    The contract and each subscription are separate writes (a contract can hold more subscriptions
    than one transaction takes). A rescission a failure cut short is finished by asking again: it
    changes the subscriptions not yet on their way to zero."""
    contract = deps.contracts.get(caller.organization_id)
    contract_rules.ensure_open_for_changes(contract, to_zero=True)
    now = deps.clock()
    all_subs = deps.subscriptions.list(caller.organization_id)
    if any(s.status == rules.PENDING for s in all_subs):
        raise codes.PURCHASE_IN_PROGRESS()
    # A suspended subscription cannot change at the provider until it is reactivated (the overdue
    # invoice paid): skipped, it would leave the contract "terminating" for ever.
    suspended = [s for s in all_subs if s.status == rules.SUSPENDED]
    if suspended:
        raise codes.SUBSCRIPTION_SUSPENDED(name=suspended[0].name)
    subs = [s for s in all_subs if s.status == rules.ACTIVE and s.quantity > 0
            and not (s.pending_change is not None and s.pending_change.quantity == 0)]
    # One protocol for the whole request: every subscription's change carries it.
    protocol = rules.cancellation_protocol(local_day(now), new_id()) if subs else None
    planned = [(s, with_protocol(plan_change(deps, caller, s, 0, rules.TERMINATION_REASON, reason_text, now),
                                 protocol)) for s in subs]
    terminating = contract_rules.begin_termination(contract)
    if terminating is not contract:
        deps.contracts.save(terminating, expected_version=contract.version, audit=audit.entry(
            deps, caller.actor, caller.organization_id, "contract.termination_requested", f"contract:{contract.id}",
            before={"status": contract.status},
            after={"status": terminating.status, "reason_text": reason_text, "protocol": protocol}))
    for before, plan in planned:
        save_planned(deps, caller, before, plan)
    if planned:
        notify_cancellation(deps, caller, protocol, [(before, plan.change) for before, plan in planned],
                            rescission=True)
    status = terminating.status
    if not planned and contracts.close_contract_if_all_zero(deps, caller.organization_id):
        status = contract_rules.TERMINATED  # nothing was left: it closed at once
    return {"status": status, "protocol": protocol,
            "changes": [change_view(plan.change) for _, plan in planned]}
