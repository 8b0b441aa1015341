"""Credit notes in their organisation's item collection (issue #22 §1): marking the notes left from
before the markers.

A credit note with something left has a marker in its organisation's collection (pk=ORG#<org>,
sk=CREDITLEFT#…), written and deleted in the note's own transactions, so the billing worker reads
the notes to apply with the contract, in its one query, instead of querying the index for each
invoice. Notes saved before the markers existed have none; until this backfill has marked them all
(and written the marker that says so), a run's workers query the index as before: none is missed.
Run after each deploy (infra/deploy.py): `python -m infra.backfill_credit_markers`.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Dict, List, Protocol

from ..domain.clock import iso

if TYPE_CHECKING:  # what the backfill needs from the container (services/__init__.py)
    from ..domain.clock import Clock
    from ..storage.billing import InvoiceRepository
    from ..storage.repositories import OrganizationRepository

    class CreditMarkerBackfillDeps(Protocol):
        """Every organisation (its id), its notes left as the index has them, and each one's marker."""

        organizations: OrganizationRepository
        invoices: InvoiceRepository
        clock: Clock


log = logging.getLogger("csp_portal.services.credit_markers")
THREADS = 8  # one index query per organisation: 10 000 of them one after another would take minutes
PAGE = 500


def backfill_credit_markers(deps: CreditMarkerBackfillDeps, may_mark: bool = True) -> Dict[str, Any]:
    """Make sure every credit note with something left has its marker. The work list: every
    organisation (the index by name, pattern 2), each one's notes left as the index has them
    (pattern 19e, each read again by key). Safe at any time and any number of times: a marker is
    written only where it is missing and only while its note is as read, so a second pass writes
    nothing. A pass that finds every note already marked (none written now, none changed under it,
    none failed) writes the marker after which the runs trust the collections alone — unless
    `may_mark` is False: the pass `make deploy` runs right after the stack update, when a Lambda
    still running the code before the markers may save a note without one (the operator runs it
    again a quarter-hour later). `"marked"`: whether the table carries the marker after the pass."""
    done = {"organizations": 0, "open_notes": 0, "marked_now": 0, "changed": 0, "failed": 0}
    token = None
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        while True:
            page, token = deps.organizations.list(limit=PAGE, next_token=token)
            for outcome in pool.map(lambda org: _mark_organization(deps, org.id), page):
                for key, n in outcome.items():
                    done[key] += n
            done["organizations"] += len(page)
            if not token:
                break
    complete = not (done["marked_now"] or done["changed"] or done["failed"])
    if complete and may_mark:
        deps.invoices.mark_credits_in_collection(iso(deps.clock()))
        return {**done, "marked": True}
    return {**done, "marked": deps.invoices.credits_in_collection()}


def _mark_organization(deps: CreditMarkerBackfillDeps, organization_id: str) -> Dict[str, int]:
    outcome = {"open_notes": 0, "marked_now": 0, "changed": 0, "failed": 0}
    try:
        notes: List = deps.invoices.credits_left(organization_id)
    except Exception:  # noqa: BLE001 - one organisation never stops the others; a rerun resumes it
        log.exception("credit markers backfill: notes of %s not read", organization_id)
        outcome["failed"] += 1
        return outcome
    for note in notes:
        outcome["open_notes"] += 1
        try:
            result = deps.invoices.mark_credit_left(note)
        except Exception:  # noqa: BLE001 - as above
            log.exception("credit markers backfill: note %s not marked", note.id)
            outcome["failed"] += 1
            continue
        if result == "marked":
            outcome["marked_now"] += 1
        elif result == "changed":
            outcome["changed"] += 1
    return outcome
