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
import logging
import re
import sys
import uuid
from typing import Any, Callable, Dict, Mapping, Optional

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.filters import SuppressFilter
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "csp-portal"
NAMESPACE = "CspPortal"


class Metric:
    """The product's own metrics (each a count). The alarms and the dashboard read these names."""

    INVOICES_ISSUED = "InvoicesIssued"
    EMAILS_SENT = "EmailsSent"
    # SES refused the message for good (services/notifications.py: PermanentMailFailure).
    EMAILS_FAILED = "EmailsFailed"
    # Recipients dropped from an email because the address bounced or complained (until lifted):
    # one per dropped recipient, counted once per email.
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


# --- correlation ids ------------------------------------------------------------------------------

# A caller's own id is kept only when it is a plain token: anything else (a newline to forge a log
# line, a 500-character value) is replaced, never echoed nor logged.
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
HEADER = "X-Correlation-Id"
# The SQS message attribute that carries it (never the body: bodies are the product's data).
MESSAGE_ATTRIBUTE = "correlation_id"


def new_correlation_id() -> str:
    return str(uuid.uuid4())


def sane(value: Optional[str]) -> Optional[str]:
    """`value` if it may serve as a correlation id, else None."""
    return value if isinstance(value, str) and _SANE_ID.fullmatch(value) else None


def request_correlation_id(headers: Optional[Mapping[str, str]], context: Optional[Mapping[str, Any]]) -> str:
    """An API request's id: the caller's X-Correlation-Id if sane, else API Gateway's request id,
    else a new one."""
    given = {k.lower(): v for k, v in (headers or {}).items()}.get(HEADER.lower())
    return sane(given) or sane((context or {}).get("requestId")) or new_correlation_id()


def record_correlation_id(record: Mapping[str, Any]) -> str:
    """An SQS record's id (Lambda's event form, `messageAttributes`), or a new one for a message
    sent without (by a version before this one, or by hand)."""
    attribute = (record.get("messageAttributes") or {}).get(MESSAGE_ATTRIBUTE) or {}
    return sane(attribute.get("stringValue")) or new_correlation_id()


def bind_record(record: Any) -> str:
    """Bind the correlation id an SQS record carries (a chalice SQSRecord); returns it."""
    cid = record_correlation_id(record.to_dict())
    bind_correlation_id(cid)
    return cid


def bind_new() -> str:
    """Bind a new correlation id (an invocation that carries none: a scheduled run); returns it."""
    cid = new_correlation_id()
    bind_correlation_id(cid)
    return cid


def message_attributes(value: Optional[str] = None) -> Dict[str, Dict[str, str]]:
    """The SQS MessageAttributes that carry `value` (default: the current id) to the worker."""
    value = value or correlation_id()
    return {MESSAGE_ATTRIBUTE: {"DataType": "String", "StringValue": value}} if value else {}


def partner_correlation_id() -> str:
    """A GUID for a partner that requires one (Partner Center's MS-CorrelationId): the current id
    when it is a uuid, else a new one (the caller logs the pair, so the two can be matched)."""
    current = correlation_id()
    try:
        return str(uuid.UUID(current)) if current else new_correlation_id()
    except ValueError:
        return new_correlation_id()


# --- no personal data in logs -----------------------------------------------------------------------

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# A CNPJ or CPF, formatted or not, and any longer run of digits (a linha digitável, a barcode).
_DOCUMENT = re.compile(r"\d{2,3}\.\d{3}\.\d{3}(?:/\d{4})?-\d{2}|\d{11,}")


def scrub(value: Any) -> str:
    """`value` as text fit for a log line: email addresses and CNPJ/CPF-like numbers masked. For
    what an outside party wrote (an exception's text, a refusal's message) and keys that may hold a
    CNPJ (a lead's email key); the product's own lines name ids, never such data."""
    return _DOCUMENT.sub("<número>", _EMAIL.sub("<email>", str(value)))


# --- logs -------------------------------------------------------------------------------------------

# The product's loggers are stdlib loggers under these names ("csp_portal.jobs.billing", and
# the adapters' and bootstrap's module loggers, "chalicelib.adapters.partner_center", ...).
PRODUCT_LOGGERS = ("csp_portal", "chalicelib")


class _CurrentStdout(logging.StreamHandler):
    """Lambda reads the function's stdout; looked up at each line, not kept from import time (a
    test capturing stdout sees the lines)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:
        pass


class _WithCorrelationId(logging.Filter):
    """Every line carries the correlation id of the work being done when it was written."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id()
        return True


class _ScrubbingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, with the exception a line carries (`log.exception`, `exc_info`)
    scrubbed: its text is an outside party's or a library's (a refusal naming an address, a
    condition naming a key with a CNPJ), never written as it came."""

    def formatException(self, ei) -> str:  # noqa: N802 - logging.Formatter's name
        return scrub(super().formatException(ei))

    def _serialize_stacktrace(self, log_record: logging.LogRecord):
        trace = super()._serialize_stacktrace(log_record)
        if trace is not None:
            trace["value"] = scrub(trace["value"])
            for frame in trace["frames"]:
                frame["statement"] = scrub(frame["statement"]) if frame["statement"] else frame["statement"]
        return trace

    def _extract_log_exception(self, log_record: logging.LogRecord):
        text, name, notes = super()._extract_log_exception(log_record)
        return text, name, [scrub(note) for note in notes] if notes else notes


# JSON lines (Powertools' formatter): level, location, message, timestamp, service, correlation_id,
# and within an invocation cold_start and function_name/memory/arn/request id. Level from
# POWERTOOLS_LOG_LEVEL (or LOG_LEVEL), INFO by default.
logger = Logger(service=SERVICE, logger_handler=_CurrentStdout(), logger_formatter=_ScrubbingFormatter(utc=True))
logger.registered_handler.addFilter(_WithCorrelationId())
logger.append_keys(name="%(name)s")

# In Lambda only (Powertools turns it off elsewhere). AWS calls and Partner Center's (requests)
# are patched; not http.client, which would add X-Ray's header to the bank's and Sefin's calls:
# those are traced by their adapters' `capture_method` instead.
tracer = Tracer(service=SERVICE, patch_modules=("boto3", "botocore", "pynamodb", "requests"))


def _is_pytest_capture(handler: logging.Handler) -> bool:
    return type(handler).__module__ == "_pytest.logging"


def configure_logging() -> None:
    """The product's loggers write through Powertools' JSON handler. They still propagate (a
    test's caplog sees them); the root logger's own handlers (Lambda's plain-text one) skip them, as
    Powertools does for its own logger, so no line is written twice."""
    for name in PRODUCT_LOGGERS:
        product = logging.getLogger(name)
        if logger.registered_handler not in product.handlers:
            product.addHandler(logger.registered_handler)
        product.setLevel(logger.log_level)
        for handler in logging.root.handlers:
            if not _is_pytest_capture(handler) and not any(
                    isinstance(f, SuppressFilter) and f.logger == name for f in handler.filters):
                handler.addFilter(SuppressFilter(name))


# --- entry points ---------------------------------------------------------------------------------

def _bind_for(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """One correlation id per invocation (an SQS handler binds each record's own as it goes);
    an API answer carries its id back. Unbound when the invocation ends: nothing done after it (on
    the same thread, locally) takes an id that is not its own."""
    from chalice.app import Request

    if isinstance(event, Request):
        cid = request_correlation_id(event.headers, event.context)
        token = _correlation_id.set(cid)
        try:
            response = get_response(event)
        finally:
            _correlation_id.reset(token)
        response.headers[HEADER] = cid
        return response
    token = _correlation_id.set(new_correlation_id())
    try:
        return get_response(event)
    finally:
        _correlation_id.reset(token)


# The keys Powertools' inject_lambda_context appends (logging/lambda_context.py's model, cold_start).
LAMBDA_CONTEXT_KEYS = ("cold_start", "function_name", "function_memory_size", "function_arn", "function_request_id")


def _with_lambda_context(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Powertools' Lambda context keys (cold start, function name, request id), when Lambda (or
    the local stack) hands a context; the event itself is never logged. (Chalice's
    ConvertToMiddleware hands Powertools the original event and context.)"""
    from chalice import ConvertToMiddleware
    from chalice.app import Request

    context = event.lambda_context if isinstance(event, Request) else getattr(event, "context", None)
    if context is None or not hasattr(context, "invoked_function_arn"):
        return get_response(event)
    try:
        return ConvertToMiddleware(logger.inject_lambda_context(log_event=False))(event, get_response)
    finally:
        # Removed when the invocation ends, as the correlation id is: a line written after it (on
        # `make run`'s threads, outside any invocation) names no function nor request of another.
        logger.remove_keys(LAMBDA_CONTEXT_KEYS)


def _traced(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Powertools' `capture_lambda_handler` (the invocation's subsegment, a ColdStart annotation),
    named for the function; neither the answer nor an exception's text kept (either may name a
    customer; the template also sets POWERTOOLS_TRACER_CAPTURE_ERROR/RESPONSE=false for the
    adapters' `capture_method`s). A failure still marks the segment as a fault."""
    from chalice.app import Request

    context = event.lambda_context if isinstance(event, Request) else getattr(event, "context", None)

    def invocation(_event: Any, _context: Any) -> Any:
        return get_response(event)

    invocation.__name__ = getattr(context, "function_name", None) or "handler"
    return tracer.capture_lambda_handler(invocation, capture_response=False, capture_error=False)(None, context)


def _flush_metrics(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Powertools' `log_metrics(raise_on_empty_metrics=False)`, less its warning on every
    invocation that counted nothing (most API requests): the EMF line when there is one."""
    try:
        return get_response(event)
    finally:
        if metrics.metric_set:
            metrics.flush_metrics(raise_on_empty_metrics=False)


def instrument(app: Any) -> None:
    """Every entry point (API, SQS, SNS, schedules): a correlation id bound, Powertools' context on
    the log lines, an X-Ray segment (in Lambda only: Powertools' tracer is off elsewhere), and the
    invocation's metrics flushed as EMF when it ends (also when it fails)."""
    configure_logging()
    app.register_middleware(_bind_for, "all")
    app.register_middleware(_with_lambda_context, "all")
    app.register_middleware(_traced, "all")
    app.register_middleware(_flush_metrics, "all")
