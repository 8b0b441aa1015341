"""The morning watch over the billing runs (jobs/watch.py, 09:00 in São Paulo).

A run is finished when each contract it queued has an outcome (`services.billing.RUN_OUTCOMES`).
One that is not, hours after it started, has contracts stuck: a worker that keeps failing and whose
messages went to the billing dead-letter queue, or a run that stopped halfway. Nobody would notice
until a customer asks for an invoice, so each morning the watch counts them into the metric
`BillingRunsUnfinished` (0 too: the alarm reads a missing value as a watch that stopped running)
and emails the operators once a day per run.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Dict, List, Protocol

from ..domain.clock import SAO_PAULO, iso, local_day
from ..observability import Metric, count
from . import notifications
from .billing import RUN_OUTCOMES, shards_pending

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..storage.billing import BillingRunRepository
    from .audit import Clocked
    from .documents import Configured
    from .notifications import QueuesEmails

    class BillingWatchDeps(Clocked, Configured, QueuesEmails, Protocol):
        """The recent runs and their progress; the operators' address (settings), emailed."""

        billing_runs: BillingRunRepository


# The runs looked at: those started in the last week. A run stuck for days is reported each
# morning until it is finished (the operators redrive its dead-lettered contracts); older ones are
# the operators' own business by then, and the table is never scanned for them.
WATCHED_DAYS = 7
# A run started (by an operator) less than this before the watch is still under way, not stuck:
# the daily run starts at 00:10, nine hours earlier, and bills thousands of contracts in minutes.
GRACE = timedelta(hours=1)


def _local(instant: str) -> str:
    return datetime.fromisoformat(instant).astimezone(SAO_PAULO).strftime("%d/%m/%Y %H:%M")


def unfinished_runs(deps: BillingWatchDeps) -> List[Dict[str, Any]]:
    """The runs started in the watched days, up to `GRACE` ago, with a contract still without an
    outcome; each with `processed` (contracts with an outcome) and `missing`."""
    now = deps.clock()
    first_day = local_day(now) - timedelta(days=WATCHED_DAYS)
    since = datetime.combine(first_day, time(0, 0), tzinfo=SAO_PAULO)
    runs = deps.billing_runs.started_between(iso(since), iso(now - GRACE))
    unfinished = []
    for run in runs:
        processed = sum(run[c] for c in RUN_OUTCOMES)
        # A shard message dead-lettered (issue #22 §4): its contracts were never queued nor counted.
        shards_missing = shards_pending(run)
        if processed < run["contracts_queued"] or shards_missing:
            unfinished.append({**run, "processed": processed, "missing": max(0, run["contracts_queued"] - processed),
                               "shards_missing": shards_missing})
    return unfinished


def watch_billing_runs(deps: BillingWatchDeps) -> List[Dict[str, Any]]:
    """Count the unfinished runs into the metric and email the operators of each (once a day per
    run: the delivery key carries both, so a repeated firing sends nothing new)."""
    unfinished = unfinished_runs(deps)
    count(Metric.BILLING_RUNS_UNFINISHED, len(unfinished))
    today = local_day(deps.clock())
    for run in unfinished:
        notifications.queue_email(
            deps, template="billing_run_unfinished", to=[deps.settings.operators_email],
            delivery_key=f"billing_run_unfinished#{run['run_id']}#{today.isoformat()}",
            context={"run": {**run, "started_at_local": _local(run["started_at"])},
                     "portal_url": deps.settings.portal_url})
    return unfinished
