"""The morning watch: billing runs not finished (services/billing_watch.py)."""
import logging

from chalice import Blueprint, Cron

from ..bootstrap import container

# Deferred (lean API function, issue #22 §3): each handler imports its services on first use, so that
# `import app` (every function's, the API's included) does not load them.
bp = Blueprint(__name__)
log = logging.getLogger("csp_portal.jobs.watch")


# 12:00 UTC = 09:00 in São Paulo: the daily run started at 00:10 has had nine hours, and the
# operators read the report at the start of their day.
@bp.schedule(Cron(0, 12, "*", "*", "?", "*"))
def watch_billing_runs(event):
    from ..services import billing_watch

    unfinished = billing_watch.watch_billing_runs(container())
    log.info("%d billing run(s) not finished", len(unfinished))
