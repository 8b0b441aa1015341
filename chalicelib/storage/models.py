"""PynamoDB models, all on the one table. See `chalicelib.storage` for the access patterns.

Items of different kinds share partitions only where their sort keys keep them apart, so a
query always reads one kind of item.
"""
from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    TTLAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

GSI1_NAME = "gsi1"
GSI2_NAME = "gsi2"


class Gsi1(GlobalSecondaryIndex):
    """The overloaded secondary index: organisations by name, users by organisation."""

    class Meta:
        index_name = GSI1_NAME
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)


class Gsi2(GlobalSecondaryIndex):
    """The second index: open invoices by due date (sparse)."""

    class Meta:
        index_name = GSI2_NAME
        projection = AllProjection()

    gsi2pk = UnicodeAttribute(hash_key=True)
    gsi2sk = UnicodeAttribute(range_key=True)


class TableItem(Model):
    """Base of every item: the table's name and region are bound at start-up (`bind_table`)."""

    class Meta:
        table_name = "csp-portal"
        region = "sa-east-1"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class AddressMap(MapAttribute):
    """The organisation's address (domain.addresses.Address), the NFS-e taker's."""

    cep = UnicodeAttribute()
    street = UnicodeAttribute()
    number = UnicodeAttribute()
    complement = UnicodeAttribute(null=True)
    district = UnicodeAttribute()
    city_code = UnicodeAttribute()
    city = UnicodeAttribute()
    state = UnicodeAttribute()


class OrganizationItem(TableItem):
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_name = Gsi1()

    id = UnicodeAttribute()
    name = UnicodeAttribute()
    cnpj = UnicodeAttribute(null=True)
    tenant_domain = UnicodeAttribute(null=True)
    # Kept in the same transaction as every profile change: the "one Master at least" invariant.
    masters_count = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    # Absent on customers onboarded before the address was asked (and on the reseller's own item).
    address = AddressMap(null=True)
    # The organisation's own edits (its address); absent on items written before it, read as 1.
    version = NumberAttribute(null=True)
    # Absent on items written before they were kept: an organisation with a tenant domain is then
    # an existing Microsoft customer (only those gave one), and none is linked yet.
    existing_microsoft_customer = BooleanAttribute(null=True)
    # Set once, by an update on `attribute_not_exists` (OrganizationRepository.link_microsoft_customer).
    microsoft_customer_id = UnicodeAttribute(null=True)
    # Purchase approvals (issue #21 §4): an Adm's purchase above this monthly amount waits for a
    # Master; absent or null: no approvals. Written on `version` (storage/approvals.py).
    approval_limit_cents = NumberAttribute(null=True)


class CnpjGuardItem(TableItem):
    """One organisation per CNPJ."""

    organization_id = UnicodeAttribute()


class ContractItemMap(MapAttribute):
    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    quantity = NumberAttribute()


class ScheduledChangeMap(MapAttribute):
    payment_method = UnicodeAttribute()
    closing_day = NumberAttribute()
    effective_from = UnicodeAttribute()  # ISO date


class ContractItem(TableItem):
    # Contracts by closing day: what the billing run of a day reads.
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_closing_day = Gsi1()
    # Terminated contracts by the day they ended, until their users' personal data is anonymised.
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_retention = Gsi2()

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    status = UnicodeAttribute()
    payment_method = UnicodeAttribute()
    closing_day = NumberAttribute()
    billing_contacts = ListAttribute(of=UnicodeAttribute, default=list)
    items = ListAttribute(of=ContractItemMap, default=list)
    accepted_at = UnicodeAttribute(null=True)
    accepted_by = UnicodeAttribute(null=True)
    accepted_from_ip = UnicodeAttribute(null=True)
    accepted_version = UnicodeAttribute(null=True)
    terminated_at = UnicodeAttribute(null=True)
    final_invoice_due = BooleanAttribute(default=False)
    version = NumberAttribute(default=1)
    scheduled_change = ScheduledChangeMap(null=True)
    terms_from = UnicodeAttribute(null=True)  # ISO date
    anonymised_at = UnicodeAttribute(null=True)
    dunning_override = JSONAttribute(null=True)


class UserItem(TableItem):
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_organization = Gsi1()

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    roles = UnicodeSetAttribute()
    status = UnicodeAttribute(default="invited")
    created_at = UnicodeAttribute()
    version = NumberAttribute(default=1)
    # Sessions (storage/sessions.py), never written by a whole-item put: every session of the user
    # ended before this instant (a password change); sessions logged out, as "<origin_jti> <expiry>"
    # until their last access token expires.
    sessions_valid_after = UnicodeAttribute(null=True)
    ended_sessions = UnicodeSetAttribute(null=True)
    mfa_enrolled_at = UnicodeAttribute(null=True)  # TOTP confirmed; absent: not enrolled (or reset)


class AuditItem(TableItem):
    """One entry of the append-only audit trail. Written only with attribute_not_exists."""

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    at = UnicodeAttribute()
    actor_id = UnicodeAttribute()
    actor_email = UnicodeAttribute(null=True)
    action = UnicodeAttribute()
    target = UnicodeAttribute()
    before = JSONAttribute(null=True)
    after = JSONAttribute(null=True)
    source_ip = UnicodeAttribute(null=True)


class SignInChallengeItem(TableItem):
    """Whose challenge (first password, TOTP code) a Cognito session is: written at the login that
    started it."""

    email = UnicodeAttribute()
    challenge = UnicodeAttribute(default="NEW_PASSWORD_REQUIRED")
    expires_at = TTLAttribute()


class LoginFailuresItem(TableItem):
    """Failed logins of one email or one source IP (domain/sign_in.py)."""

    failures = NumberAttribute(default=0)
    last_failure_at = NumberAttribute()  # epoch seconds: conditions compare it
    expires_at = TTLAttribute()


class SessionItem(TableItem):
    """A session the product handed out, keyed by a digest of its refresh token."""

    user_id = UnicodeAttribute()
    origin_jti = UnicodeAttribute(null=True)
    started_at = UnicodeAttribute()
    expires_at = TTLAttribute()


class DataExportItem(TableItem):
    """An export of an organisation's data (LGPD): its zip in S3, and until when its link is handed out."""

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    key = UnicodeAttribute()
    requested_by = UnicodeAttribute()
    created_at = UnicodeAttribute()
    size_bytes = NumberAttribute()
    rows = NumberAttribute()
    expires_at = TTLAttribute()


class IdempotencyItem(TableItem):
    status = UnicodeAttribute()  # in_progress | completed
    request_hash = UnicodeAttribute()
    response_status = NumberAttribute(null=True)
    response_body = JSONAttribute(null=True)
    expires_at = TTLAttribute()
    # The claim's own id: a put whose answer was lost is retried by botocore and then fails its
    # condition on the item it wrote itself; the id tells the claimer it holds the claim.
    claim_id = UnicodeAttribute(null=True)


class PricePointMap(MapAttribute):
    effective_from = UnicodeAttribute()  # YYYY-MM-DD
    unit_price_cents = NumberAttribute()


class ProductItem(TableItem):
    """A product with every price it has had (a handful a year): one read gives the catalog and
    each product's price on any day."""

    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    family = UnicodeAttribute()
    term = UnicodeAttribute()
    billing_frequency = UnicodeAttribute()
    active = BooleanAttribute(default=True)
    prices = ListAttribute(of=PricePointMap, default=list)
    offer_id = UnicodeAttribute(null=True)  # Partner Center's "productId:skuId"
    # Per-product seat limits (#21 §4, product quantity limits): absent on older items = 1 and none.
    min_quantity = NumberAttribute(null=True)
    max_quantity = NumberAttribute(null=True)


class EmailDeliveryItem(TableItem):
    """One email's delivery: "sending" while a worker holds it (until `expires_at`: a killed worker's
    claim is taken over then), "sent" or "failed" once done, so a redelivered queue message never
    sends it twice. Items written before `status` existed are sent ones."""

    status = UnicodeAttribute(null=True)
    claimed_at = UnicodeAttribute(null=True)
    sent_at = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


class SubscriptionItem(TableItem):
    # Sparse: only subscriptions with a renewal date are in the renewal index.
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_renewal = Gsi1()

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    sku = UnicodeAttribute()
    name = UnicodeAttribute()
    family = UnicodeAttribute()
    term = UnicodeAttribute()
    billing_frequency = UnicodeAttribute()
    status = UnicodeAttribute()
    quantity = NumberAttribute()
    auto_renew = BooleanAttribute(default=True)
    started_on = UnicodeAttribute(null=True)
    renews_on = UnicodeAttribute(null=True)
    timeline = JSONAttribute(default=list)  # [[YYYY-MM-DD, quantity], ...]
    windows = JSONAttribute(default=list)  # [[ISO instant, seats], ...]
    pending_change = JSONAttribute(null=True)
    provider_subscription_id = UnicodeAttribute(null=True)
    suspension = NumberAttribute(null=True)  # the suspension's number, while suspended
    version = NumberAttribute(default=1)


class ChangeItem(TableItem):
    # Sparse: only pending changes are in this index; the sweeper re-queues any that got stuck.
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    pending = Gsi2()

    id = UnicodeAttribute()
    subscription_id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    from_quantity = NumberAttribute()
    to_quantity = NumberAttribute()
    requested_at = UnicodeAttribute()
    requested_by = UnicodeAttribute()
    applies = UnicodeAttribute()
    status = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    reason_text = UnicodeAttribute(null=True)
    effective_on = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    error = UnicodeAttribute(null=True)
    applied_at = UnicodeAttribute(null=True)
    protocol = UnicodeAttribute(null=True)
    order_id = UnicodeAttribute(null=True)  # the provider's asynchronous order, once it answered one
    order_polls = NumberAttribute(null=True)
    order_polled_at = UnicodeAttribute(null=True)


class CartLineItem(TableItem):
    sku = UnicodeAttribute()
    quantity = NumberAttribute()
    added_at = UnicodeAttribute()


class InvoiceItem(TableItem):
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_organization = Gsi1()
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    by_status_and_due_date = Gsi2()

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    contract_id = UnicodeAttribute()
    number = NumberAttribute()
    period_start = UnicodeAttribute()
    period_end = UnicodeAttribute()
    issued_at = UnicodeAttribute()
    due_date = UnicodeAttribute()
    lines = JSONAttribute()
    total_cents = NumberAttribute()
    payment_method = UnicodeAttribute()
    status = UnicodeAttribute()
    paid_cents = NumberAttribute(default=0)
    final = BooleanAttribute(default=False)
    email_queued_at = UnicodeAttribute(null=True)
    boletos = JSONAttribute(default=list)
    nfse = JSONAttribute(null=True)
    pdf_key = UnicodeAttribute(null=True)
    email_error = UnicodeAttribute(null=True)
    # A second copy being made (epoch seconds until which the claim holds): set by the one request
    # that may register the new boleto at the bank; dropped when the invoice is saved with it.
    second_copy_until = NumberAttribute(null=True)
    # A cancellation being made (epoch seconds): the one request that calls the bank and the NFS-e
    # emitter; dropped when the invoice is saved cancelled, or released when they fail.
    cancel_until = NumberAttribute(null=True)
    # An operator's NFS-e re-emission being made (epoch seconds): the one request that calls the
    # emitter; dropped when the invoice is saved with the note or the refusal, released on an outage.
    nfse_until = NumberAttribute(null=True)
    # The emitter's last refusal of the invoice's DPS (E-codes), until a note is issued.
    nfse_failure = JSONAttribute(null=True)
    # The last refusal of the invoice's boleto (the bank's reasons, or the payer's address
    # missing), until an operator registers it again.
    boleto_failure = JSONAttribute(null=True)
    credited_cents = NumberAttribute(default=0)
    cancellation = JSONAttribute(null=True)
    dispute = JSONAttribute(null=True)
    version = NumberAttribute(default=1)


class CreditNoteItem(TableItem):
    """A credit note, under its invoice; in gsi1 (ORG#<org>#CREDITS) while some of it is left."""

    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_organization = Gsi1()

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    invoice_id = UnicodeAttribute()
    invoice_number = NumberAttribute()
    amount_cents = NumberAttribute()
    remaining_cents = NumberAttribute()
    reason = UnicodeAttribute()
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute()
    applications = JSONAttribute(default=list)
    version = NumberAttribute(default=1)


class CreditLeftItem(TableItem):
    """A credit note with something left, in its organisation's item collection (pk=ORG#<org>,
    sk=CREDITLEFT#<created at>#<id>): written and deleted in the note's own transactions, so the
    billing worker's one read of the collection knows which notes to apply (issue #22 §1)."""

    invoice_id = UnicodeAttribute()
    credit_note_id = UnicodeAttribute()


class InvoiceGuardItem(TableItem):
    """One per (organisation, period end): the natural key that makes a rerun issue nothing."""

    invoice_id = UnicodeAttribute()


class NfseRejectedItem(TableItem):
    """An invoice whose NFS-e the emitter refused (pk=NFSE_REJECTED, sk=INVOICE#<id>): written
    with the refusal, deleted with the note's re-emission (pattern 51)."""

    invoice_id = UnicodeAttribute()
    organization_id = UnicodeAttribute()


class BoletoRejectedItem(TableItem):
    """An invoice whose boleto was refused (pk=BOLETO_REJECTED, sk=INVOICE#<id>): written with the
    refusal, deleted with the boleto's registration (pattern 53)."""

    invoice_id = UnicodeAttribute()
    organization_id = UnicodeAttribute()


class CounterItem(TableItem):
    value = NumberAttribute()


class MarkerItem(TableItem):
    """A fact about the table written once (e.g. keys.CLOSING_INDEX_MARKER_*: no contract left in
    the closing-day index's partitions from before the shards)."""
    at = UnicodeAttribute()


class PaymentItem(TableItem):
    id = UnicodeAttribute()
    invoice_id = UnicodeAttribute()
    amount_cents = NumberAttribute()
    paid_on = UnicodeAttribute()
    method = UnicodeAttribute()
    recorded_by = UnicodeAttribute()
    recorded_at = UnicodeAttribute()


class BoletoLookupItem(TableItem):
    """Which invoice a registered boleto belongs to (pk=BOLETO#<bank>#<nosso número digits>)."""

    invoice_id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    nosso_numero = UnicodeAttribute()
    registered_at = UnicodeAttribute()


class DunningStepItem(TableItem):
    """A dunning step taken on an invoice (pk=INVOICE#<id>, sk=DUNNING#<step>): its existence is
    what makes the step once-only."""

    invoice_id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    step = UnicodeAttribute()
    day = NumberAttribute()
    days_overdue = NumberAttribute()
    balance_cents = NumberAttribute()
    taken_at = UnicodeAttribute()


class BillingRunItem(TableItem):
    # Runs by the instant they started (access pattern 54: the morning watch reads the recent ones).
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    by_started = Gsi1()

    id = UnicodeAttribute()
    period = UnicodeAttribute()
    started_at = UnicodeAttribute()
    started_by = UnicodeAttribute()
    contracts_queued = NumberAttribute(default=0)
    invoices_issued = NumberAttribute(default=0)
    already_invoiced = NumberAttribute(default=0)
    nothing_to_bill = NumberAttribute(default=0)
    not_closed_yet = NumberAttribute(default=0)
    # The sharded fan-out (issue #22 §4): how many shard messages the run queued; the shards that
    # have queued their contracts and counted them into `contracts_queued` (added in the same
    # update, on the shard not being there yet: a shard message delivered twice counts once).
    # Absent on runs made before the shards: nothing to wait for.
    shards_expected = NumberAttribute(null=True)
    shards_reported = UnicodeSetAttribute(null=True)


class BillingRunFailureItem(TableItem):
    """Why a contract of a run failed, its latest attempt (pk=BILLING_RUN#<run> sk=FAILURE#<org>, access
    pattern 57); once an attempt bills it, the same item says so (`succeeded_at`, no reason) and no
    failure may be written over it."""

    organization_id = UnicodeAttribute()
    code = UnicodeAttribute(null=True)
    message = UnicodeAttribute(null=True)
    at = UnicodeAttribute()
    attempts = NumberAttribute(default=1)
    succeeded_at = UnicodeAttribute(null=True)
    # What became of the contract (issue #22 §1): invoices_issued, already_invoiced, nothing_to_bill or
    # not_closed_yet, written with the success; the run's counters are these items counted.
    outcome = UnicodeAttribute(null=True)


class LeadItem(TableItem):
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_created = Gsi1()

    id = UnicodeAttribute()
    cnpj = UnicodeAttribute()
    company_name = UnicodeAttribute()
    contact_name = UnicodeAttribute()
    email = UnicodeAttribute()
    phone = UnicodeAttribute()
    products_of_interest = ListAttribute(of=UnicodeAttribute, default=list)
    existing_microsoft_customer = BooleanAttribute(default=False)
    tenant_domain = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    source_ip = UnicodeAttribute(null=True)
    organization_id = UnicodeAttribute(null=True)
    converted_by = UnicodeAttribute(null=True)
    version = NumberAttribute(default=1)


class RateItem(TableItem):
    count = NumberAttribute(default=0)
    expires_at = TTLAttribute()


class TicketItem(TableItem):
    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_organization = Gsi1()
    gsi2pk = UnicodeAttribute()
    gsi2sk = UnicodeAttribute()
    all_tickets = Gsi2()

    id = UnicodeAttribute()
    number = NumberAttribute()
    organization_id = UnicodeAttribute()
    subject = UnicodeAttribute()
    category = UnicodeAttribute()
    severity = UnicodeAttribute()
    status = UnicodeAttribute()
    opened_by = UnicodeAttribute()
    opened_by_email = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    messages_count = NumberAttribute(default=0)
    version = NumberAttribute(default=1)


class TicketMessageItem(TableItem):
    id = UnicodeAttribute()
    author_id = UnicodeAttribute()
    author_name = UnicodeAttribute()
    author_side = UnicodeAttribute()  # customer | operator
    body = UnicodeAttribute()
    at = UnicodeAttribute()


class TicketAttachmentItem(TableItem):
    """A file on a ticket (pk=TICKET#<id>, sk=ATTACH#<id>); the file itself is in the documents bucket."""
    id = UnicodeAttribute()
    ticket_id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    name = UnicodeAttribute()
    size = NumberAttribute()
    content_type = UnicodeAttribute()
    uploaded_by = UnicodeAttribute()
    uploaded_by_name = UnicodeAttribute()
    side = UnicodeAttribute()
    at = UnicodeAttribute()
    message_id = UnicodeAttribute(null=True)
    removed_at = UnicodeAttribute(null=True)  # its file deleted (the organisation anonymised, LGPD)


class SuspensionItem(TableItem):
    """An organisation's suspension at the licence provider (domain/suspensions.py)."""

    # Sparse: only a suspension under way (suspended or being lifted) is in this index.
    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    under_way = Gsi2()

    organization_id = UnicodeAttribute()
    number = NumberAttribute()
    state = UnicodeAttribute()
    invoice_id = UnicodeAttribute()
    invoice_number = NumberAttribute()
    started_at = UnicodeAttribute()
    lifting_at = UnicodeAttribute(null=True)
    lifted_at = UnicodeAttribute(null=True)
    version = NumberAttribute(default=1)


class SuspensionClaimItem(TableItem):
    """One provider call (suspend / reactivate) of one suspension for one subscription: claimed
    before the call, done in the subscription's transaction after it."""

    organization_id = UnicodeAttribute()
    subscription_id = UnicodeAttribute()
    action = UnicodeAttribute()
    number = NumberAttribute()
    claimed_until = UnicodeAttribute()  # a run that died mid-call leaves it; it expires then
    done = BooleanAttribute(default=False)


class ApprovalItem(TableItem):
    """A purchase waiting for (or decided by) a Master (issue #21 §4): pk=ORG#<org>#APPROVALS
    sk=APPROVAL#<id>; in gsi2 (PENDING_APPROVALS, by expiry) only while pending."""

    gsi2pk = UnicodeAttribute(null=True)
    gsi2sk = UnicodeAttribute(null=True)
    pending_by_expiry = Gsi2()

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    items = JSONAttribute(null=True)
    subscription = JSONAttribute(null=True)
    monthly_effect_cents = NumberAttribute()
    requested_by = JSONAttribute()
    requested_by_id = UnicodeAttribute()  # an Adm's own requests: the list's filter (pattern 67)
    created_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()
    status = UnicodeAttribute()
    decided_by = JSONAttribute(null=True)
    decided_at = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    result = JSONAttribute(null=True)
    version = NumberAttribute(default=1)


ALL_MODELS = (TableItem, OrganizationItem, CnpjGuardItem, ContractItem, UserItem, AuditItem, IdempotencyItem,
              ProductItem, EmailDeliveryItem, SubscriptionItem, ChangeItem, CartLineItem,
              InvoiceItem, InvoiceGuardItem, CounterItem, PaymentItem, BillingRunItem, LeadItem, RateItem,
              TicketItem, TicketMessageItem, DataExportItem, DunningStepItem, SuspensionItem, SuspensionClaimItem,
              BoletoLookupItem, ApprovalItem, MarkerItem, CreditLeftItem)


def bind_table(table_name: str, region: str) -> None:
    """Point every model at the deployed table (they share one Meta)."""
    TableItem.Meta.table_name = table_name
    TableItem.Meta.region = region
    for model in ALL_MODELS:
        model._connection = None


# The table as CloudFormation and the local bootstrap create it (a test keeps infra/ in step).
TABLE_KEY_SCHEMA = [
    {"AttributeName": "pk", "KeyType": "HASH"},
    {"AttributeName": "sk", "KeyType": "RANGE"},
]
TABLE_ATTRIBUTES = [
    {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk")
]
TABLE_GSIS = [
    {
        "IndexName": GSI1_NAME,
        "KeySchema": [
            {"AttributeName": "gsi1pk", "KeyType": "HASH"},
            {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
    {
        "IndexName": GSI2_NAME,
        "KeySchema": [
            {"AttributeName": "gsi2pk", "KeyType": "HASH"},
            {"AttributeName": "gsi2sk", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
]
TTL_ATTRIBUTE = "expires_at"



# --- spend aggregate (issue #21 §1) ---------------------------------------------------------------

class SpendItem(TableItem):
    """An amount billed (centavos, netted: ADD + on issue, − on cancellation) for one organisation,
    month and SKU; under pk=ORG#<org>#SPEND sk=<month>#<sku> (pattern 58) and again under
    pk=SPEND#<month> sk=<org>#<sku> (pattern 59)."""

    organization_id = UnicodeAttribute(null=True)
    month = UnicodeAttribute(null=True)
    sku = UnicodeAttribute(null=True)
    amount_cents = NumberAttribute(default=0)


class SpendMarkerItem(TableItem):
    """pk=INVOICE#<id> sk=SPEND: the invoice's lines are in the aggregate (`counted`), were taken
    out with its cancellation (`cancelled`), or wait for the backfill (`pending`)."""

    invoice_id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    state = UnicodeAttribute()
# --- webhooks (issue #21 §3) ----------------------------------------------------------------------

class WebhookEndpointItem(TableItem):
    """An organisation's webhook endpoint (pattern 61). The secret signs each delivery."""

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    url = UnicodeAttribute()
    events = ListAttribute(of=UnicodeAttribute, default=list)
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    secret = UnicodeAttribute()


class WebhookCountItem(TableItem):
    """How many endpoints an organisation has: the limit's counter, moved in each create/delete."""

    count = NumberAttribute(default=0)


class WebhookDeliveryItem(TableItem):
    """One event to one endpoint (pattern 64; by endpoint, pattern 65). `payload` is the event's
    body exactly as sent (a resend sends the same bytes)."""

    gsi1pk = UnicodeAttribute()
    gsi1sk = UnicodeAttribute()
    by_endpoint = Gsi1()

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    endpoint_id = UnicodeAttribute()
    event_id = UnicodeAttribute()
    event_type = UnicodeAttribute()
    payload = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    first_attempt_at = UnicodeAttribute(null=True)
    last_attempt_at = UnicodeAttribute(null=True)
    last_status_code = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    next_attempt_at = UnicodeAttribute(null=True)
    delivered_at = UnicodeAttribute(null=True)
    # The attempt under way (claimed before the POST): another copy of the message waits for it.
    lease_until = UnicodeAttribute(null=True)


class WebhookEventItem(TableItem):
    """An event in the outbox (pattern 63), written in the transaction of the change it reports."""

    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    pending = Gsi1()

    id = UnicodeAttribute()
    organization_id = UnicodeAttribute()
    type = UnicodeAttribute()
    created_at = UnicodeAttribute()
    payload = UnicodeAttribute()  # the body every endpoint receives
    # Every event of the audit entry, as JSON [{id, type, payload}] (the first is the one above):
    # one item per entry keeps a transaction's outbox to ONE Put. Absent on older items.
    events = UnicodeAttribute(null=True)


ALL_MODELS += (WebhookEndpointItem, WebhookCountItem, WebhookDeliveryItem, WebhookEventItem)  # webhooks
