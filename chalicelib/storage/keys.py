"""Key builders for the one table. Every key in the code is made here, never by ad-hoc f-strings."""
from __future__ import annotations

import hashlib

ORGANIZATIONS_INDEX_PK = "ORGS"
ORGANIZATION_SK = "ORG"
CONTRACT_SK = "CONTRACT"
USER_SK = "USER"
CATALOG_PK = "CATALOG"


def org_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}"


def org_name_sk(name: str, organization_id: str) -> str:
    return f"NAME#{name.casefold()}#{organization_id}"


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def org_users_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}#USERS"


def user_email_sk(email: str) -> str:
    return f"EMAIL#{email}"


def audit_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}#AUDIT"


def audit_sk(at_iso: str, entry_id: str) -> str:
    # ISO instants in UTC sort lexically in time order; the id breaks ties.
    return f"{at_iso}#{entry_id}"


def audit_range(since_iso: str, until_iso: str):
    """Sort-key bounds for entries from `since` to `until`, both inclusive ("~" sorts after "#id")."""
    return since_iso, f"{until_iso}~"


def idempotency_pk(scope: str) -> str:
    return f"IDEMPOTENCY#{scope}"


def idempotency_sk(key: str) -> str:
    return f"KEY#{key}"


def product_sk(sku: str) -> str:
    return f"PRODUCT#{sku}"


def email_delivery_pk(delivery_key: str) -> str:
    return f"EMAIL#{delivery_key}"


EMAIL_DELIVERY_SK = "EMAIL"
PRODUCT_PREFIX = "PRODUCT#"


def subscription_sk(subscription_id: str) -> str:
    return f"SUB#{subscription_id}"


SUBSCRIPTION_PREFIX = "SUB#"
CART_PREFIX = "CART#"


def renewal_pk(day_iso: str) -> str:
    return f"RENEWAL#{day_iso}"


def renewal_sk(organization_id: str, subscription_id: str) -> str:
    return f"ORG#{organization_id}#SUB#{subscription_id}"


def changes_pk(organization_id: str, subscription_id: str) -> str:
    return f"ORG#{organization_id}#SUB#{subscription_id}#CHANGES"


def change_sk(change_id: str) -> str:
    # Change ids are time-ordered, so the history reads in order.
    return f"CHANGE#{change_id}"


def cart_sk(sku: str) -> str:
    return f"CART#{sku}"


# --- the closing-day index, sharded (issue #22 §4; pattern 18) -------------------------------------
# The contracts with something to bill are spread over CLOSING_SHARDS index partitions,
# `CLOSINGS#<k>` (k a stable hash of the organisation id), sorted by `<dd>#ORG#<id>`: a day's
# contracts of a shard are one `begins_with(<dd>#)` query, an operator's whole-month run one query
# per shard (32, not 28 × 32). 100 000 contracts make ~3 100 items per partition, whatever their
# closing days; the run reads the shards in parallel, one billing worker each. The count is part of
# every key written: changing it later needs a migration (every contract's key moved, as
# infra/backfill_closing_shards.py moves the unsharded ones) and a release whose readers read both.
CLOSING_SHARDS = 32
# Where the index kept a contract before the shards (up to issue #21): `CLOSING#<dd>`, sorted by
# `ORG#<id>`. A shard reads those of its shard there too, until the backfill has moved them all and
# written the marker below (a table created since never had any: local/aws_resources.py writes it).
CLOSING_INDEX_MARKER_PK = "INDEX#CLOSING"
CLOSING_INDEX_MARKER_SK = "SHARDED"


def closing_shard(organization_id: str) -> int:
    """The organisation's shard: sha256, not `hash()` (salted per process), so every Lambda agrees."""
    return int.from_bytes(hashlib.sha256(organization_id.encode()).digest()[:4], "big") % CLOSING_SHARDS


def closing_shards() -> list:
    """The shards a run queues a message for."""
    return list(range(CLOSING_SHARDS))


def closing_shard_pk(shard: int) -> str:
    """The index partition of a shard: every closing day's contracts of that shard."""
    if not 0 <= shard < CLOSING_SHARDS:
        raise ValueError(f"no closing shard {shard}")
    return f"CLOSINGS#{shard:02d}"


def closing_day_prefix(day: int) -> str:
    return f"{day:02d}#"


def closing_sk(day: int, organization_id: str) -> str:
    return f"{closing_day_prefix(day)}{org_pk(organization_id)}"


def day_of_closing_sk(sort_key: str) -> int:
    return int(sort_key.partition("#")[0])


def legacy_closing_pk(day: int) -> str:
    """A day's partition of the index before the shards."""
    return f"CLOSING#{day:02d}"


def closing_shard_name(shard: int) -> str:
    """How a run names a shard it counted (`BillingRunItem.shards_reported`): "07"."""
    return f"{shard:02d}"


def invoice_pk(invoice_id: str) -> str:
    return f"INVOICE#{invoice_id}"


INVOICE_SK = "INVOICE"
PAYMENT_PREFIX = "PAYMENT#"


def payment_sk(payment_id: str) -> str:
    return f"PAYMENT#{payment_id}"


def org_invoices_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}#INVOICES"


def org_invoice_sk(period_end_iso: str, invoice_id: str) -> str:
    return f"{period_end_iso}#{invoice_id}"


CREDIT_NOTE_PREFIX = "CREDIT#"


def credit_note_sk(credit_note_id: str) -> str:
    return f"CREDIT#{credit_note_id}"


# A credit note with something left also sits in its organisation's item collection (pk=ORG#<org>),
# sorted between CONTRACT and SUB#: the billing worker's one read finds it with the contract
# (issue #22 §1), no index query per invoice. Oldest first, as they are applied.
CREDIT_LEFT_PREFIX = "CREDITLEFT#"


def credit_left_sk(created_at: str, credit_note_id: str) -> str:
    return f"{CREDIT_LEFT_PREFIX}{created_at}#{credit_note_id}"


# Credit notes left from before those markers sit only in the index (`org_credits_pk`); the backfill
# marks them and then writes this marker, from which the runs' workers trust the collection alone
# (a table created since never had any: local/aws_resources.py writes it).
CREDITS_MARKER_PK = "INDEX#CREDITS"
CREDITS_MARKER_SK = "IN_COLLECTION"


def org_credits_pk(organization_id: str) -> str:
    """Credit notes with something left to apply (sparse: a used-up note leaves the index)."""
    return f"ORG#{organization_id}#CREDITS"


def org_credit_sk(created_at: str, credit_note_id: str) -> str:
    return f"{created_at}#{credit_note_id}"


def invoice_guard_sk(period_end_iso: str) -> str:
    return f"INVOICED#{period_end_iso}"


def invoices_by_status_pk(status: str) -> str:
    return f"INVOICES#{status}"


def due_sk(due_iso: str, invoice_id: str) -> str:
    """Sorted by due date: `< <day>` is every invoice due before a day, oldest first."""
    return f"{due_iso}#{invoice_id}"


def boleto_pk(bank_code: str, nosso_numero_key: str) -> str:
    """A boleto by its bank and the digits of its nosso número (`domain.cnab240.nosso_numero_key`):
    how a bank's return file names the invoice it paid."""
    return f"BOLETO#{bank_code}#{nosso_numero_key}"


BOLETO_SK = "BOLETO"


DUNNING_STEP_PREFIX = "DUNNING#"


def dunning_step_sk(step_key: str) -> str:
    """A dunning step taken on the invoice (pk=INVOICE#<id>): one item per step, written once."""
    return f"{DUNNING_STEP_PREFIX}{step_key}"


COUNTER_PK = "COUNTER"
INVOICE_NUMBER_SK = "INVOICE_NUMBER"
BOLETO_SEQUENCE_SK = "BOLETO_SEQUENCE"


def billing_run_pk(run_id: str) -> str:
    return f"BILLING_RUN#{run_id}"


BILLING_RUN_SK = "RUN"
BILLING_RUN_FAILURE_PREFIX = "FAILURE#"


def billing_run_failure_sk(organization_id: str) -> str:
    return f"{BILLING_RUN_FAILURE_PREFIX}{organization_id}"
# Every billing run in one index partition, by the instant it started (a run a day, a few by hand).
BILLING_RUNS_INDEX_PK = "BILLING_RUNS"


def billing_run_started_sk(started_at: str, run_id: str) -> str:
    return f"{started_at}#{run_id}"


def lead_pk(cnpj: str) -> str:
    # One lead per CNPJ: the key itself deduplicates the form.
    return f"LEAD#{cnpj}"


LEAD_SK = "LEAD"
LEADS_INDEX_PK = "LEADS"


def rate_pk(scope: str, window: str) -> str:
    return f"RATE#{scope}#{window}"


RATE_SK = "RATE"


def sign_in_challenge_pk(session_hash: str) -> str:
    return f"SIGNIN#{session_hash}"


SIGN_IN_CHALLENGE_SK = "CHALLENGE"


def login_failures_pk(scope_hash: str) -> str:
    # A digest of "email:<email>" or "ip:<address>": emails nobody has are not kept in clear.
    return f"LOGINFAIL#{scope_hash}"


LOGIN_FAILURES_SK = "FAILURES"
# The one login attempt of an email under way (beside its failures): attempts take turns.
LOGIN_ATTEMPT_SK = "ATTEMPT"


def session_pk(refresh_hash: str) -> str:
    return f"SESSION#{refresh_hash}"


SESSION_SK = "SESSION"


def ticket_pk(ticket_id: str) -> str:
    return f"TICKET#{ticket_id}"


TICKET_SK = "TICKET"
TICKETS_INDEX_PK = "TICKETS"
TICKET_MESSAGE_PREFIX = "MSG#"
TICKET_NUMBER_SK = "TICKET_NUMBER"


def ticket_message_sk(at_iso: str, message_id: str) -> str:
    return f"MSG#{at_iso}#{message_id}"


TICKET_ATTACHMENT_PREFIX = "ATTACH#"
TICKET_ATTACHMENT_COUNT_SK = "COUNT#ATTACHMENTS"  # how many files the ticket has had (the cap's counter)


def ticket_attachment_sk(attachment_id: str) -> str:
    return f"{TICKET_ATTACHMENT_PREFIX}{attachment_id}"


def org_tickets_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}#TICKETS"


def created_sk(at_iso: str, item_id: str) -> str:
    return f"{at_iso}#{item_id}"


def cnpj_pk(cnpj: str) -> str:
    return f"CNPJ#{cnpj}"


CNPJ_SK = "ORGANIZATION"

PENDING_CHANGES_PK = "PENDING_CHANGES"


def org_exports_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}#EXPORTS"


def export_sk(export_id: str) -> str:
    return f"EXPORT#{export_id}"


# Terminated contracts waiting for the end of the fiscal retention (sparse: anonymised ones leave).
RETENTION_PK = "RETENTION"


def retention_sk(terminated_at: str, organization_id: str) -> str:
    return f"{terminated_at}#{organization_id}"


SUSPENSION_SK = "SUSPENSION"
SUSPENSIONS_UNDER_WAY_PK = "SUSPENSIONS"


def suspension_claim_sk(number: int, action: str, subscription_id: str) -> str:
    """A provider call of one suspension for one subscription ("SUSPENSION#" sorts after "SUB#":
    the licence panel's range never reaches these)."""
    return f"SUSPENSION#{number:06d}#{action}#{subscription_id}"


# Invoices whose NFS-e the emitter refused (pattern 51): one item each, under one partition.
NFSE_REJECTED_PK = "NFSE_REJECTED"


def nfse_rejected_sk(invoice_id: str) -> str:
    return f"INVOICE#{invoice_id}"


# Invoices whose boleto was refused (pattern 53): one item each, under one partition.
BOLETO_REJECTED_PK = "BOLETO_REJECTED"


def boleto_rejected_sk(invoice_id: str) -> str:
    return f"INVOICE#{invoice_id}"


def suppressed_address_pk(address_hash: str) -> str:
    """An address SES reported as undeliverable (pattern 55), by the sha256 of the normalised
    address: the address itself is an attribute, not a key that logs and metrics could carry."""
    return f"SUPPRESSED#{address_hash}"


SUPPRESSED_ADDRESS_SK = "ADDRESS"


# --- spend aggregate (issue #21 §1, patterns 58 and 59) -------------------------------------------


def org_spend_pk(organization_id: str) -> str:
    """An organisation's amounts per month and SKU (pattern 58: a Query over a range of months)."""
    return f"ORG#{organization_id}#SPEND"


def org_spend_sk(month: str, sku: str) -> str:
    return f"{month}#{sku}"


def month_spend_pk(month: str) -> str:
    """Every organisation's amounts of one month, per SKU (pattern 59: the operator's report)."""
    return f"SPEND#{month}"


def month_spend_sk(organization_id: str, sku: str) -> str:
    return f"{organization_id}#{sku}"


# Beside the invoice (pk=INVOICE#<id>): whether its lines are in the aggregate (counted, cancelled,
# pending), written in the transaction that moves them: the backfill never counts one twice.
SPEND_MARKER_SK = "SPEND"


# Exports for the customer's ERP (issue #21 §2): invoices whose period ends between two days (pattern 60).
def org_invoices_ending_between(first_day_iso: str, last_day_iso: str):
    """Sort-key bounds of an organisation's invoice index (`<period end>#<id>`), both days included."""
    return first_day_iso, f"{last_day_iso}#\uffff"


# --- purchase approvals (issue #21 §4; patterns 66–68) ---------------------------------------------

def org_approvals_pk(organization_id: str) -> str:
    return f"ORG#{organization_id}#APPROVALS"


def approval_sk(approval_id: str) -> str:
    return f"APPROVAL#{approval_id}"  # ids sort by creation time: newest first is ScanIndexForward=False


APPROVAL_PREFIX = "APPROVAL#"
PENDING_APPROVALS_PK = "PENDING_APPROVALS"


def pending_approval_sk(expires_at: str, organization_id: str, approval_id: str) -> str:
    return f"{expires_at}#{organization_id}#{approval_id}"


# --- webhooks (issue #21 §3; patterns 61–65) -----------------------------------------------------

def org_webhooks_pk(organization_id: str) -> str:
    """An organisation's webhook endpoints (61) and their counter (the limit of 10)."""
    return f"ORG#{organization_id}#WEBHOOKS"


WEBHOOK_PREFIX = "WEBHOOK#"
WEBHOOK_COUNT_SK = "COUNT#WEBHOOKS"


def webhook_sk(endpoint_id: str) -> str:
    return f"{WEBHOOK_PREFIX}{endpoint_id}"


def webhook_delivery_pk(delivery_id: str) -> str:
    return f"WEBHOOK_DELIVERY#{delivery_id}"


WEBHOOK_DELIVERY_SK = "DELIVERY"


def webhook_deliveries_pk(endpoint_id: str) -> str:
    """An endpoint's deliveries, newest first (gsi1, gsi1sk=<created at>#<delivery>)."""
    return f"WEBHOOK#{endpoint_id}#DELIVERIES"


def event_pk(event_id: str) -> str:
    return f"EVENT#{event_id}"


EVENT_SK = "EVENT"
# The outbox's pending events (gsi1, sparse: the dispatcher deletes each once fanned out).
PENDING_EVENTS_PK = "EVENTS#PENDING"
