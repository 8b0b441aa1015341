"""LGPD: the daily anonymisation of organisations past the fiscal retention (schedule)."""
import logging

from chalice import Blueprint, Cron

from ..bootstrap import container

# Deferred (lean API function, issue #22 §3): each handler imports its services on first use, so that
# `import app` (every function's, the API's included) does not load them.
bp = Blueprint(__name__)
log = logging.getLogger("csp_portal.jobs.privacy")


# 05:30 UTC = 02:30 in São Paulo: after the billing run, when nobody is working.
@bp.schedule(Cron(30, 5, "*", "*", "?", "*"))
def anonymise_after_retention(event):
    from ..services import privacy

    log.info("%d organisation(s) anonymised", privacy.anonymise_due(container()))
