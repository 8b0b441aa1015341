"""Purchase approvals: the daily expiry of requests no Master decided in 7 days (schedule)."""
import logging

from chalice import Blueprint, Cron

from ..bootstrap import container

# Deferred (lean API function, issue #22 §3): each handler imports its services on first use, so that
# `import app` (every function's, the API's included) does not load them.
bp = Blueprint(__name__)
log = logging.getLogger("csp_portal.jobs.approvals")


# 09:15 UTC = 06:15 in São Paulo: the requester reads the notice at the start of the day. A request
# past its expiry is refused by the approval itself even before this runs (the claim's condition).
@bp.schedule(Cron(15, 9, "*", "*", "?", "*"))
def expire_approvals(event):
    from ..services import approvals

    log.info("%d approval request(s) expired", approvals.expire_requests(container()))
