"""How many DynamoDB requests the billing worker makes for one invoice (issue #22 §1): counted with
a hook on botocore's client, as the bench counts them. A call count, not a timing: a change that
adds a request to the common path fails here."""
import json
import traceback
from collections import Counter
from datetime import date

import pytest
from botocore.client import BaseClient

from chalicelib.domain.audit import SYSTEM
from chalicelib.domain.clock import FixedClock
from chalicelib.services import billing
from tests.support import billable_organizations, sp


class DynamoCalls:
    """Every DynamoDB request made while installed, with the product's frame that made it."""

    def __init__(self, monkeypatch):
        self.calls = []
        original = BaseClient._make_api_call
        calls = self.calls

        def counted(client, operation_name, api_params):
            if client.meta.service_model.service_name == "dynamodb":
                site = next((f"{f.filename.rsplit('chalicelib/', 1)[1]}:{f.name}"
                             for f in reversed(traceback.extract_stack()[:-1])
                             if "/chalicelib/storage/" in f.filename or "/chalicelib/services/" in f.filename), "?")
                calls.append((operation_name, site))
            return original(client, operation_name, api_params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counted)

    def operations(self) -> Counter:
        return Counter(op for op, _ in self.calls)

    def __len__(self):
        return len(self.calls)


@pytest.fixture
def november(world):
    world.deps.clock = FixedClock(sp(2026, 11, 11, 9))  # the day after the 10 Nov closing
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[])
    return run_id


def _deliver(world, run_id, organization_id, credits_in_collection=True):
    """The billing worker's Lambda handler with the contract's message, as SQS delivers it (as a
    run's shard writes it: the table's credit notes all marked in their collections, unless not)."""
    message = {"kind": "bill_contract", "run_id": run_id, "organization_id": organization_id,
               "closing_date": "2026-11-10", **({"credits_in_collection": True} if credits_in_collection else {})}
    event = world.client.events.generate_sqs_event(message_bodies=[json.dumps(message)],
                                                   queue_name=world.deps.settings.billing_queue_name)
    world.client.lambda_.invoke("bill_contracts", event)


def test_the_billing_worker_issues_a_boleto_invoice_in_three_dynamodb_requests(world, november, monkeypatch):
    warm, org = billable_organizations(world.deps, 2)
    _deliver(world, november, warm)  # the container's first contract reads the catalog and the counter
    calls = DynamoCalls(monkeypatch)

    _deliver(world, november, org)
    made = list(calls.calls)
    monkeypatch.undo()

    invoice = world.deps.invoices.invoice_for_period(org, date(2026, 11, 10))
    assert invoice is not None and invoice.active_boleto and invoice.nfse and invoice.email_queued_at
    # The organisation's items (the credit notes left among them), the issue, the documents with
    # the email's mark and the run's count: nothing else.
    assert [op for op, _ in made] == ["Query", "TransactWriteItems", "TransactWriteItems"], made


def test_a_message_from_before_the_credit_markers_queries_the_credit_index(world, november, monkeypatch):
    """A message without the shard's word that the credit notes are all marked (queued by an older
    release, or before the backfill): the credits left are read from the index, one more query."""
    warm, org = billable_organizations(world.deps, 2)
    _deliver(world, november, warm)
    calls = DynamoCalls(monkeypatch)

    _deliver(world, november, org, credits_in_collection=False)
    made = list(calls.calls)
    monkeypatch.undo()

    assert world.deps.invoices.invoice_for_period(org, date(2026, 11, 10)).email_queued_at
    assert [op for op, _ in made] == ["Query", "Query", "TransactWriteItems", "TransactWriteItems"], made
    assert made[1][1] == "storage/billing.py:credits_left"


def test_the_first_boletos_nosso_numero_is_recorded_with_the_invoice_before_the_bank_is_called(
        world, november, monkeypatch):
    """The issue's transaction records the first boleto's nosso número (the invoice number) for the
    bank's return files: when the bank is called it is there, and the documents step (one write,
    `test_the_billing_worker_issues_a_boleto_invoice_in_three_dynamodb_requests`) adds no Put of it."""
    from chalicelib.adapters.bank import BankUnavailable
    from chalicelib.services import documents

    [org] = billable_organizations(world.deps, 1)
    found_at_the_bank_call = []

    def register(request):
        found_at_the_bank_call.append(world.deps.invoices.invoice_of_boleto(
            documents.boleto_layout(world.deps.settings).bank_code, request.nosso_numero))
        raise BankUnavailable("the bank is down")

    monkeypatch.setattr(world.deps.bank, "register", register)
    with pytest.raises(BankUnavailable):
        billing.bill_contract(world.deps, {"run_id": november, "organization_id": org, "closing_date": "2026-11-10"})

    invoice = world.deps.invoices.invoice_for_period(org, date(2026, 11, 10))
    bank_code, nosso_numero = documents.original_boleto_number(world.deps.settings, invoice)
    assert nosso_numero == documents.boleto_layout(world.deps.settings).nosso_numero(invoice.number)
    assert found_at_the_bank_call == [invoice.id]
    assert world.deps.invoices.invoice_of_boleto(bank_code, nosso_numero) == invoice.id
    assert invoice.boletos == () and invoice.email_queued_at is None  # the retry makes them


def test_the_invoice_email_is_handed_the_bytes_of_the_documents_just_made(world, november, monkeypatch):
    """The boleto PDF and the NFS-e's XML and PDF go to the email queue with their bytes, the same
    bytes S3 keeps; nothing read back."""
    import boto3

    from chalicelib.services import notifications

    [org] = billable_organizations(world.deps, 1)
    queued, real_queue = [], notifications.queue_email

    def capture(deps, **email):
        queued.append(email)
        real_queue(deps, **email)

    monkeypatch.setattr(notifications, "queue_email", capture)
    billing.bill_contract(world.deps, {"run_id": november, "organization_id": org, "closing_date": "2026-11-10"})

    [email] = [e for e in queued if e["template"] == "invoice_issued"]
    invoice = world.deps.invoices.invoice_for_period(org, date(2026, 11, 10))
    s3 = boto3.client("s3", region_name=world.deps.settings.region)
    bucket = world.deps.settings.documents_bucket
    assert sorted(a["key"] for a in email["attachments"]) == sorted(
        [invoice.active_boleto.pdf_key, invoice.nfse.pdf_key, invoice.nfse.xml_key])
    for attachment in email["attachments"]:
        stored = s3.get_object(Bucket=bucket, Key=attachment["key"])["Body"].read()
        assert attachment["content"] == stored, attachment["filename"]


def test_a_contract_retried_after_its_email_was_queued_sends_one_email_and_counts_one_invoice(world, monkeypatch):
    """The worker dies between queuing the invoice email and writing the documents (one write with
    the email's mark and the run's count): the retry makes the same documents, queues the email
    again (its delivery key: one email) and counts the contract once; a duplicate message after
    that leaves it counted as issued, not already invoiced."""
    world.deps.clock = FixedClock(sp(2026, 11, 11, 9))
    [org] = billable_organizations(world.deps, 1)
    real_save, crashed = world.deps.invoices.save, []

    def dies_once(invoice, expected_version, **extra):
        if extra.get("run_issued") and not crashed:
            crashed.append(invoice.id)
            raise RuntimeError("Lambda timed out")
        return real_save(invoice, expected_version, **extra)

    monkeypatch.setattr(world.deps.invoices, "save", dies_once)
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])
    world.drain_queues()
    assert crashed and world.deps.invoices.invoice_for_period(org, date(2026, 11, 10)).email_queued_at is None
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == 1  # queued before the crash: sent
    assert billing.run_progress(world.deps, run_id)["processed"] == 0
    [failure] = billing.run_failures(world.deps, run_id)["items"]
    assert failure["code"] == "unexpected_error"

    world.make_visible()  # the failed message comes back
    world.drain_queues()
    _deliver(world, run_id, org)  # and a duplicate of it, later

    invoice = world.deps.invoices.invoice_for_period(org, date(2026, 11, 10))
    assert invoice.email_queued_at and invoice.active_boleto and invoice.nfse
    emails = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    assert len(emails) == 1 and f"boleto-fatura-{invoice.number}.pdf" in {
        p.get_filename() for p in emails[0].iter_attachments()}
    progress = billing.run_progress(world.deps, run_id)
    assert (progress["contracts_queued"], progress["invoices_issued"], progress["already_invoiced"],
            progress["processed"], progress["complete"]) == (1, 1, 0, 1, True)
    assert billing.run_failures(world.deps, run_id)["items"] == []
