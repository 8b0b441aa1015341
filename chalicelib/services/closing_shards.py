"""The sharded closing-day index (issue #22 §4): moving the contracts written before the shards.

Contracts saved since the shards exist sit in `CLOSINGS#<k>`, sorted by `<dd>#ORG#<id>`; those
saved before sit in `CLOSING#<dd>` until this backfill moves them (every run reads those partitions
too, so none is missed meanwhile). A pass that finds none to move writes the marker that stops
the runs reading them. Run after each deploy (infra/deploy.py) and by the local stack over saved data:
`python -m infra.backfill_closing_shards`.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Dict, Protocol

from ..domain.clock import iso
from .billing import CLOSING_DAYS

if TYPE_CHECKING:  # what the backfill needs from the container (services/__init__.py)
    from ..domain.clock import Clock
    from ..storage.repositories import ContractRepository

    class ShardBackfillDeps(Protocol):
        """The contracts: the unsharded partitions of the closing-day index, and each one's move."""

        contracts: ContractRepository
        clock: Clock


log = logging.getLogger("csp_portal.services.closing_shards")
MOVE_THREADS = 8  # 100 000 contracts of a day moved one update at a time would take a quarter-hour


def backfill_closing_shards(deps: ShardBackfillDeps, may_mark: bool = True) -> Dict[str, Any]:
    """Move every contract still in an unsharded closing-day partition to its shard. No Scan: the
    unsharded partitions themselves (pattern 18, one query per day) are the work list. Safe at any
    time and any number of times: each move is an update of the index keys on the condition that
    the contract still is in that partition, so a second run moves nothing, a contract that left
    the index (or was saved, and so sharded, meanwhile) is left as it is, and the contract's
    version does not move (an open form saves as before). A pass that finds no contract at all to
    move writes the marker: from then on the runs read only the shards. Not the pass that moved
    some: the index is read eventually consistent, and a Lambda still running the code before the
    shards may save a contract there in the minutes after the deploy, which the runs would then
    never read; the next pass (a later deploy, or the rerun `make deploy` asks for) finds it. Nor,
    for the same reason, the pass `make deploy` runs right after the stack update (`may_mark`
    False). `"marked"`: whether the table carries the marker after the pass."""
    done = {"found": 0, "moved": 0, "skipped": 0, "failed": 0}
    for day in CLOSING_DAYS:
        organizations = deps.contracts.in_legacy_closing(day)
        if not organizations:
            continue
        done["found"] += len(organizations)

        def move(organization_id: str, day: int = day) -> str:
            try:
                return "moved" if deps.contracts.move_to_shard(organization_id, day) else "skipped"
            except Exception:  # noqa: BLE001 - one contract never stops the others; a rerun resumes it
                log.exception("closing shards backfill: contract of %s not moved", organization_id)
                return "failed"

        with ThreadPoolExecutor(max_workers=MOVE_THREADS) as pool:
            for outcome in pool.map(move, organizations):
                done[outcome] += 1
    if not done["found"] and may_mark:
        deps.contracts.mark_unsharded_closing_moved(iso(deps.clock()))
        return {**done, "marked": True}
    return {**done, "marked": deps.contracts.unsharded_closing_moved()}
