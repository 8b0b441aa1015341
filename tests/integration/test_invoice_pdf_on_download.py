"""The invoice's own PDF (issue #22): billing no longer renders it (no email attaches it); the first
view that hands out its link renders it from the same data, stores it at the same key and records
it on the invoice without moving its version."""
import shutil
import subprocess

import pytest
import requests

from chalicelib.domain.clock import FixedClock
from chalicelib.services import documents
from tests.support import in_parallel, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


@pytest.fixture
def rendered(world):
    heard = []
    world.deps.on_render = lambda document, seconds: heard.append(document)
    return heard


def billed(world, clock):
    """An organisation with one subscription, billed at its 10 Nov closing (documents and email done)."""
    org = world.organization(closing_day=10)
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    clock.now = sp(2026, 11, 11, 9)
    world.call("POST", "/backoffice/billing-runs", world.operator(), {"period": "2026-11"})
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    return org, world.deps.invoices.get(invoice["id"])


def pdf_key(invoice):
    return f"organizations/{invoice.organization_id}/invoices/{invoice.number:08d}/fatura-{invoice.number}.pdf"


def test_billing_renders_no_invoice_pdf_and_the_first_view_renders_it_once(world, clock, rendered):
    org, invoice = billed(world, clock)
    assert rendered == ["boleto", "nfse"]
    assert invoice.pdf_key is None and not world.deps.documents.exists(pdf_key(invoice))

    first = world.call("GET", f"/invoices/{invoice.id}", org.master).json_body
    again = world.call("GET", f"/invoices/{invoice.id}", org.master).json_body

    assert rendered == ["boleto", "nfse", "invoice"]  # once, whoever asks after
    document = requests.get(first["pdf_url"], timeout=10)
    assert document.status_code == 200 and document.content.startswith(b"%PDF")
    assert first["pdf_url"].split("?")[0] == again["pdf_url"].split("?")[0]
    after = world.deps.invoices.get(invoice.id)
    assert after.pdf_key == pdf_key(invoice) and world.deps.documents.exists(pdf_key(invoice))
    # Downloading moved no version: a form opened on the invoice saves as before.
    assert after.version == invoice.version and first["version"] == invoice.version


def test_the_back_office_view_hands_out_the_pdf_too(world, clock, rendered):
    _, invoice = billed(world, clock)
    view = world.call("GET", f"/backoffice/invoices/{invoice.id}", world.operator()).json_body
    assert requests.get(view["pdf_url"], timeout=10).content.startswith(b"%PDF")
    assert world.deps.invoices.get(invoice.id).pdf_key == pdf_key(invoice) and rendered.count("invoice") == 1


def test_two_first_downloads_at_once_store_one_pdf_and_both_answer_it(world, clock, rendered):
    org, invoice = billed(world, clock)

    answers = in_parallel(2, lambda n: world.call("GET", f"/invoices/{invoice.id}", org.master))

    assert [a.status_code for a in answers] == [200, 200]
    assert {a.json_body["pdf_url"].split("?")[0] for a in answers} == {
        answers[0].json_body["pdf_url"].split("?")[0]}
    after = world.deps.invoices.get(invoice.id)
    assert after.pdf_key == pdf_key(invoice) and after.version == invoice.version


def test_a_render_racing_a_recorded_pdf_links_to_the_recorded_one(world, clock):
    # The invoice read before a cancellation recorded its "CANCELADA" PDF: the late render does not
    # overwrite it, and its answer links to what the invoice records.
    _, invoice = billed(world, clock)
    world.deps.invoices.record_pdf_key(invoice.id, "organizations/x/cancelada.pdf")

    url = documents.invoice_pdf_url(world.deps, invoice)

    assert "cancelada.pdf" in url.split("?")[0]
    assert world.deps.invoices.get(invoice.id).pdf_key == "organizations/x/cancelada.pdf"


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")
def test_an_invoice_cancelled_before_any_download_links_to_its_cancelled_pdf(world, clock):
    org, invoice = billed(world, clock)
    clock.now = sp(2026, 11, 12, 10)
    cancel = world.call("POST", f"/backoffice/invoices/{invoice.id}/cancel", world.operator(),
                        {"reason": "Quantidade de licenças faturada a mais por engano"})
    assert cancel.status_code == 200, cancel.json_body

    detail = world.call("GET", f"/invoices/{invoice.id}", org.master).json_body

    document = requests.get(detail["pdf_url"], timeout=10).content
    text = " ".join(subprocess.run(["pdftotext", "-layout", "-", "-"], input=document, capture_output=True,
                                   check=True).stdout.decode().split())
    assert f"Fatura nº {invoice.number} — CANCELADA" in text
    assert not world.deps.documents.exists(pdf_key(invoice))  # the original was never needed


def test_a_pdf_key_lost_to_a_save_from_an_earlier_read_is_found_again_not_rendered_again(world, clock, rendered):
    """Recording the PDF moves no version, so a writer holding the invoice as read before the first
    download (a payment, the overdue job) saves it back without `pdf_key`. The next view links the
    PDF already stored, the bytes the customer downloaded: it is not drawn again."""
    from dataclasses import replace

    org, invoice = billed(world, clock)
    stale = world.deps.invoices.get(invoice.id)  # read before the first download
    first = world.call("GET", f"/invoices/{invoice.id}", org.master).json_body
    downloaded = requests.get(first["pdf_url"], timeout=10).content
    world.deps.invoices.save(replace(stale, version=stale.version + 1), expected_version=stale.version)
    assert world.deps.invoices.get(invoice.id).pdf_key is None

    again = world.call("GET", f"/invoices/{invoice.id}", org.master).json_body

    assert rendered == ["boleto", "nfse", "invoice"]  # not rendered a second time
    assert requests.get(again["pdf_url"], timeout=10).content == downloaded
    assert world.deps.invoices.get(invoice.id).pdf_key == pdf_key(invoice)
