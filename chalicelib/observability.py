"""What the reseller's on-call sees: structured logs, metrics and traces (AWS Lambda Powertools).

One place names them, so the code that emits a metric and the alarms and dashboard that read it
(infra/resources.json) cannot drift apart: a deploy test checks that every metric an alarm reads
is one named here.

Metrics go out as CloudWatch Embedded Metric Format (EMF) lines in the function's log, flushed
when the Lambda invocation ends; CloudWatch turns them into metrics in `NAMESPACE`, with the one
dimension `service` = `SERVICE` (an alarm must name it to match).

The correlation id follows one piece of work: it is taken from the API request (or the queue
message that carries it) and travels on every log line, queued message, email and partner call.
"""
from __future__ import annotations

import contextvars
from typing import Optional

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "csp-portal"
NAMESPACE = "CspPortal"


class Metric:
    """The product's own metrics (each a count). The alarms and the dashboard read these names."""

    INVOICES_ISSUED = "InvoicesIssued"
    EMAILS_SENT = "EmailsSent"
    # SES refused the message for good (services/notifications.py: PermanentMailFailure).
    EMAILS_FAILED = "EmailsFailed"
    # Not sent because the address bounced or complained (until the address is changed).
    EMAILS_SUPPRESSED = "EmailsSuppressed"
    EMAIL_BOUNCES = "EmailBounces"
    EMAIL_COMPLAINTS = "EmailComplaints"
    # A licence change that failed for good (provisioning gave up, or the provider refused it).
    PROVISIONING_FAILURES = "ProvisioningFailures"
    # Billing runs of a closing day still not finished the morning after (the watch job).
    BILLING_RUNS_UNFINISHED = "BillingRunsUnfinished"


metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def count(name: str, value: int = 1) -> None:
    """Add `value` to the metric `name` (one of `Metric`) for this invocation."""
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


_correlation_id: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("correlation_id", default=None)


def correlation_id() -> Optional[str]:
    """The correlation id of the work being done now, if one was bound."""
    return _correlation_id.get()


def bind_correlation_id(value: Optional[str]) -> None:
    """Make `value` the correlation id of the work being done now (an API request, a queue
    message, a scheduled run)."""
    _correlation_id.set(value)
