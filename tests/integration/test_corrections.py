"""Corrections of an issued invoice by an operator: cancellation (the boleto cancelled at the bank,
the NFS-e through the emitter's cancellation event, the contacts emailed, the trail), re-issue with
the next number, credit notes applied to the next invoices; and what a rerun of the billing does
after them."""
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
import requests

from chalicelib.domain.clock import FixedClock
from chalicelib.domain.proration import Segment
from tests.support import body_text, reading_together, sp

REASON = "Quantidade de licenças faturada a mais por engano"


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def billed(world, clock):
    """An organisation with one subscription (10 seats since 1 Oct), billed at its 10 Nov closing."""
    org = world.organization(closing_day=10, items=())
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    world.billing_run(operator, "2026-11")
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    clock.now = sp(2026, 11, 12, 10)
    return org, operator, invoice


def _contacts(world, org):
    return world.deps.contracts.get(org.id).billing_contacts


def _sent(world, before):
    """The emails sent since `before` (a count of the outbox), after the queues are drained."""
    world.drain_queues()
    return world.outbox()[before:]


def _trail(world, org, action):
    return [e for e in world.call("GET", "/audit", org.master).json_body["items"] if e["action"] == action]


def _cancel(world, operator, invoice_id, **body):
    return world.call("POST", f"/backoffice/invoices/{invoice_id}/cancel", operator,
                      {"reason": REASON, **body})


# --- cancel and re-issue ----------------------------------------------------------------------------

def test_cancel_and_reissue_keeps_numbers_gapless_cancels_boleto_and_nfse_once_and_tells_the_contacts(world, clock):
    org, operator, invoice = billed(world, clock)
    old = world.deps.invoices.get(invoice["id"])
    old_boleto, old_nfse, old_key = old.active_boleto.nosso_numero, old.nfse.number, old.nfse.access_key
    # Corrected data: 3 Power BI seats since 20 Oct were missing from the invoice.
    world.subscription_timeline(org, "POWERBI-PRO", [Segment(date(2026, 10, 20), 3)])
    bank, emitter = world.deps.bank, world.deps.nfse_emitter
    bank.calls.clear()
    outbox = len(world.outbox())

    response = _cancel(world, operator, invoice["id"], reissue=True)

    assert response.status_code == 200, response.json_body
    body = response.json_body
    assert (body["invoice"]["id"], body["invoice"]["number"], body["invoice"]["status"]) == (
        invoice["id"], invoice["number"], "cancelled")
    new = body["reissued_invoice"]
    assert new["number"] == invoice["number"] + 1 and new["status"] == "open"
    assert (new["period_start"], new["period_end"]) == (invoice["period_start"], invoice["period_end"])
    assert new["total_cents"] > invoice["total_cents"]  # the lines were computed again
    assert body["cancellation"] == {
        "cancelled_at": body["cancellation"]["cancelled_at"], "cancelled_by": operator.user.id, "reason": REASON,
        "nfse_protocol": emitter.cancellation(old_key).protocol, "reissued_invoice_id": new["id"],
        "reissued_number": new["number"]}
    # The customer's FATURAS: both numbers, the old one "cancelled" with its reason.
    listed = {i["number"]: i["status"] for i in world.call("GET", "/invoices", org.master).json_body["items"]}
    assert listed == {invoice["number"]: "cancelled", new["number"]: "open"}
    shown = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
    assert shown["status"] == "cancelled" and shown["cancellation"]["reason"] == REASON
    assert world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).status_code == 404  # nothing to pay
    replacement = world.call("GET", f"/invoices/{new['id']}", org.master).json_body
    assert {line["sku"] for line in replacement["lines"]} == {"MS365-E3", "POWERBI-PRO"}
    # The bank: the old boleto cancelled once, the new one registered once; the emitter: one event.
    new_boleto = world.call("GET", f"/invoices/{new['id']}/boleto", org.master).json_body["nosso_numero"]
    assert bank.calls == [("cancel", old_boleto), ("register", new_boleto)]
    assert not bank.is_registered(old_boleto) and bank.is_registered(new_boleto)
    [event] = emitter.cancel_requests
    assert (event["access_key"], event["reason_code"], event["reason_text"]) == (old_key, "1", REASON)
    assert event["author"] == world.deps.settings.nfse_registration.cnpj
    xml = emitter.cancellation(old_key).xml
    assert "<pedRegEvento" in xml and "<e101101>" in xml and f"<xMotivo>{REASON}</xMotivo>" in xml
    assert world.call("GET", f"/invoices/{new['id']}/nfse", org.master).json_body["number"] != old_nfse
    # Every email: the cancellation and the new invoice, to the billing contacts.
    cancelled_mail, issued_mail = sorted(_sent(world, outbox), key=lambda m: "cancelada" not in m["Subject"])
    contacts = _contacts(world, org)
    assert cancelled_mail["Subject"] == f"Fatura nº {invoice['number']} cancelada — {org.organization.name}"
    assert cancelled_mail["To"] == ", ".join(contacts)
    text = body_text(cancelled_mail)
    assert f"Motivo: {REASON}" in text and "boleto desta fatura foi cancelado no banco" in text
    assert f"foi emitida a fatura nº {new['number']}" in text
    assert issued_mail["Subject"].startswith(f"Fatura nº {new['number']} — ") and issued_mail["To"] == ", ".join(
        contacts)
    # The trail: who cancelled, why, what the bank and the emitter were told, what replaced it.
    [entry] = _trail(world, org, "invoice.cancelled")
    assert entry["actor_id"] == operator.user.id
    assert entry["after"]["reason"] == REASON and entry["after"]["nosso_numero"] == old_boleto
    assert entry["after"]["reissued_number"] == new["number"]
    assert [e["after"]["number"] for e in _trail(world, org, "invoice.issued")] == [new["number"], invoice["number"]]

    # A rerun of the billing run: the period's guard points at the new invoice; nothing changes.
    bank.calls.clear()
    outbox = len(world.outbox())
    progress = world.billing_run(operator, "2026-11")
    assert (progress["invoices_issued"], progress["already_invoiced"]) == (0, 1)
    assert {i["number"]: i["status"] for i in world.call("GET", "/invoices", org.master).json_body["items"]} == listed
    assert bank.calls == [] and _sent(world, outbox) == [] and len(emitter.cancel_requests) == 1


def test_a_cancelled_period_without_reissue_is_left_alone_by_a_rerun(world, clock):
    org, operator, invoice = billed(world, clock)
    response = _cancel(world, operator, invoice["id"])
    assert response.status_code == 200, response.json_body
    assert response.json_body["reissued_invoice"] is None
    assert response.json_body["cancellation"]["reissued_invoice_id"] is None
    assert world.deps.nfse_emitter.cancel_requests[0]["reason_code"] == "9"  # "outros", with the text
    [mail] = _sent(world, 0)[-1:]
    assert mail["Subject"].startswith(f"Fatura nº {invoice['number']} cancelada") and \
        "foi emitida a fatura" not in body_text(mail)
    world.deps.bank.calls.clear()
    outbox = len(world.outbox())

    progress = world.billing_run(operator, "2026-11")

    assert (progress["invoices_issued"], progress["already_invoiced"]) == (0, 1)
    [only] = world.call("GET", "/invoices", org.master).json_body["items"]
    assert (only["id"], only["status"]) == (invoice["id"], "cancelled")
    assert world.deps.bank.calls == [] and _sent(world, outbox) == []


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")
def test_a_cancelled_invoice_links_to_its_pdf_marked_cancelled(world, clock):
    org, operator, invoice = billed(world, clock)
    original = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["pdf_url"]
    assert _cancel(world, operator, invoice["id"]).status_code == 200

    detail = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body

    assert detail["pdf_url"] != original
    document = requests.get(detail["pdf_url"], timeout=10).content
    text = " ".join(subprocess.run(["pdftotext", "-layout", "-", "-"], input=document, capture_output=True,
                                   check=True).stdout.decode().split())
    assert f"Fatura nº {invoice['number']} — CANCELADA" in text
    assert "CANCELADA em 12/11/2026" in text and REASON in text


def test_five_cancellations_at_once_cancel_once_at_the_bank_and_the_emitter(world, clock, monkeypatch):
    org, operator, invoice = billed(world, clock)
    bank, emitter = world.deps.bank, world.deps.nfse_emitter
    bank.calls.clear()
    outbox = len(world.outbox())
    # The five read the invoice before any claims it: the race, every time.
    reading_together(monkeypatch, world.deps.invoices, "get", 5)
    with ThreadPoolExecutor(5) as pool:
        responses = list(pool.map(lambda _: _cancel(world, operator, invoice["id"], reissue=True), range(5)))

    [done] = [r for r in responses if r.status_code == 200]
    losers = [r for r in responses if r is not done]
    assert len(losers) == 4 and all(r.status_code == 409 and r.json_body["error"]["code"] in (
        "cancellation_in_progress", "version_conflict", "invoice_not_cancellable") for r in losers)
    assert bank.calls_of("cancel") == [world.deps.invoices.get(invoice["id"]).boletos[0].nosso_numero]
    assert len(emitter.cancel_requests) == 1
    numbers = sorted(i["number"] for i in world.call("GET", "/invoices", org.master).json_body["items"])
    assert numbers == [invoice["number"], invoice["number"] + 1]
    assert len(_trail(world, org, "invoice.cancelled")) == 1
    assert len([m for m in _sent(world, outbox) if "cancelada" in m["Subject"]]) == 1


# --- refused: nothing written, nobody called, nobody emailed -----------------------------------------

def _nothing_happened(world, org, invoice_id, version, outbox):
    assert world.deps.bank.calls == [] and world.deps.nfse_emitter.cancel_requests == []
    assert world.deps.invoices.get(invoice_id).version == version
    assert _trail(world, org, "invoice.cancelled") == [] and _trail(world, org, "invoice.credit_note_granted") == []
    assert _sent(world, outbox) == []


def test_bad_cancellations_are_refused_with_nothing_written_no_email_and_no_bank_call(world, clock):
    org, operator, invoice = billed(world, clock)
    world.deps.bank.calls.clear()
    outbox = len(world.outbox())
    version = world.deps.invoices.get(invoice["id"]).version
    path = f"/backoffice/invoices/{invoice['id']}/cancel"

    missing = world.call("POST", path, operator, {"reissue": True})
    blank = world.call("POST", path, operator, {"reason": "   a   "})
    long = world.call("POST", path, operator, {"reason": "x" * 501})
    wrong_type = world.call("POST", path, operator, {"reason": REASON, "reissue": "sim"})
    unknown = world.call("POST", "/backoffice/invoices/nao-existe/cancel", operator, {"reason": REASON})
    customer = world.call("POST", path, org.master, {"reason": REASON})

    assert (missing.status_code, missing.json_body["error"]["code"]) == (400, "required")
    assert (blank.status_code, blank.json_body["error"]["code"]) == (400, "too_short")
    assert (long.status_code, long.json_body["error"]["code"]) == (400, "too_long")
    assert wrong_type.status_code == 400
    assert (unknown.status_code, unknown.json_body["error"]["code"]) == (404, "invoice_not_found")
    assert customer.status_code == 403
    _nothing_happened(world, org, invoice["id"], version, outbox)


def test_an_invoice_with_payments_cannot_be_cancelled(world, clock):
    org, operator, invoice = billed(world, clock)
    paid = world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", operator,
                      {"amount_cents": 1000, "paid_on": "2026-11-12", "method": "boleto"})
    assert paid.status_code == 201, paid.json_body
    world.deps.bank.calls.clear()
    outbox = len(world.outbox())
    version = world.deps.invoices.get(invoice["id"]).version

    partly = _cancel(world, operator, invoice["id"])

    assert (partly.status_code, partly.json_body["error"]["code"]) == (422, "invoice_has_payments")
    assert "R$ 10,00" in partly.json_body["error"]["message"] and "estornos" in partly.json_body["error"]["message"]
    world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", operator,
               {"amount_cents": invoice["total_cents"] - 1000, "paid_on": "2026-11-12", "method": "boleto"})
    version = world.deps.invoices.get(invoice["id"]).version
    in_full = _cancel(world, operator, invoice["id"])
    assert (in_full.status_code, in_full.json_body["error"]["code"]) == (409, "invoice_not_cancellable")
    assert "está paga" in in_full.json_body["error"]["message"]
    _nothing_happened(world, org, invoice["id"], version, outbox)


def test_a_bank_outage_answers_503_and_leaves_the_invoice_cancellable(world, clock):
    org, operator, invoice = billed(world, clock)
    bank, emitter = world.deps.bank, world.deps.nfse_emitter
    bank.calls.clear()
    outbox = len(world.outbox())
    bank.fail_next_cancel(1)

    down = _cancel(world, operator, invoice["id"], reissue=True)

    assert (down.status_code, down.json_body["error"]["code"]) == (503, "bank_unavailable")
    held = world.deps.invoices.get(invoice["id"])
    assert held.status == "open" and held.active_boleto is not None and held.cancellation is None
    # The note went first (a refusal there must not leave a dead boleto): it is cancelled already,
    # and the invoice, still open and payable, says so (the back office sees it, the audit has it).
    key = held.nfse.access_key
    event = emitter.cancellation(key)
    assert len(emitter.cancel_requests) == 1 and event is not None
    assert held.nfse.cancelled_protocol == event.protocol and held.nfse_status == "cancelled"
    assert [e["after"]["nfse_protocol"] for e in _trail(world, org, "nfse.cancelled")] == [event.protocol]
    assert _trail(world, org, "invoice.cancelled") == []
    assert len(world.call("GET", "/invoices", org.master).json_body["items"]) == 1
    assert _sent(world, outbox) == []

    again = _cancel(world, operator, invoice["id"], reissue=True)  # at once: the claim was released
    assert again.status_code == 200, again.json_body
    assert bank.calls_of("cancel") == [held.active_boleto.nosso_numero] * 2
    # The retry does not send the event again; the cancellation records the event's protocol.
    assert len(emitter.cancel_requests) == 1
    assert again.json_body["cancellation"]["nfse_protocol"] == event.protocol


def test_an_emitter_outage_answers_503_then_a_retry_cancels_the_note_once(world, clock):
    org, operator, invoice = billed(world, clock)
    emitter = world.deps.nfse_emitter
    emitter.fail_next_cancel(1)

    down = _cancel(world, operator, invoice["id"])

    assert (down.status_code, down.json_body["error"]["code"]) == (503, "nfse_emitter_unavailable")
    assert world.deps.invoices.get(invoice["id"]).status == "open"
    again = _cancel(world, operator, invoice["id"])
    assert again.status_code == 200, again.json_body
    key = world.deps.invoices.get(invoice["id"]).nfse.access_key
    assert again.json_body["cancellation"]["nfse_protocol"] == emitter.cancellation(key).protocol
    assert len(emitter.cancel_requests) == 2  # the one the outage lost, and the one registered


def test_a_second_copy_waits_while_a_cancellation_holds_the_invoice(world, clock):
    from datetime import timedelta

    org, operator, invoice = billed(world, clock)
    clock.now = sp(2026, 12, 1, 10)  # overdue
    held = world.deps.invoices.get(invoice["id"])
    world.deps.invoices.claim_cancellation(held.id, held.version, clock.now, clock.now + timedelta(minutes=2))
    world.deps.bank.calls.clear()

    blocked = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)

    assert (blocked.status_code, blocked.json_body["error"]["code"]) == (409, "cancellation_in_progress")
    assert world.deps.bank.calls == []


def test_no_credit_note_while_a_cancellation_holds_the_invoice(world, clock):
    from datetime import timedelta

    org, operator, invoice = billed(world, clock)
    held = world.deps.invoices.get(invoice["id"])
    world.deps.invoices.claim_cancellation(held.id, held.version, clock.now, clock.now + timedelta(minutes=2))

    blocked = _credit(world, operator, invoice["id"], 1000)

    assert (blocked.status_code, blocked.json_body["error"]["code"]) == (409, "cancellation_in_progress")
    assert world.deps.invoices.credit_notes(invoice["id"]) == []
    assert world.deps.invoices.get(invoice["id"]).credited_cents == 0


# --- credit notes ----------------------------------------------------------------------------------

def _credit(world, operator, invoice_id, amount_cents, reason="Desconto comercial de novembro"):
    return world.call("POST", f"/backoffice/invoices/{invoice_id}/credit-notes", operator,
                      {"amount_cents": amount_cents, "reason": reason})


def test_a_credit_note_is_applied_to_the_next_invoice_as_a_negative_line(world, clock):
    org, operator, invoice = billed(world, clock)
    outbox = len(world.outbox())

    granted = _credit(world, operator, invoice["id"], 5000)

    assert granted.status_code == 201, granted.json_body
    credit = granted.json_body
    assert (credit["invoice_id"], credit["amount_cents"], credit["remaining_cents"], credit["applied_to_invoice_id"]) \
        == (invoice["id"], 5000, 5000, None)
    [mail] = _sent(world, outbox)
    assert mail["Subject"] == f"Nota de crédito sobre a fatura nº {invoice['number']} — {org.organization.name}"
    assert mail["To"] == ", ".join(_contacts(world, org)) and "R$ 50,00" in body_text(mail)
    [entry] = _trail(world, org, "invoice.credit_note_granted")
    assert entry["after"]["amount_cents"] == 5000
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "open"  # unchanged

    clock.now = sp(2026, 12, 11, 9)
    world.billing_run(operator, "2026-12")

    december = next(i for i in world.call("GET", "/invoices", org.master).json_body["items"]
                    if i["period_end"] == "2026-12-10")
    lines = world.call("GET", f"/invoices/{december['id']}", org.master).json_body["lines"]
    [credit_line] = [line for line in lines if line["amount_cents"] < 0]
    assert credit_line["description"] == (
        f"Crédito — nota de crédito sobre a fatura nº {invoice['number']}: Desconto comercial de novembro")
    assert credit_line["amount_cents"] == -5000
    assert december["total_cents"] == sum(line["amount_cents"] for line in lines if line["amount_cents"] > 0) - 5000
    [listed] = world.call("GET", f"/backoffice/invoices/{invoice['id']}/credit-notes", operator).json_body["items"]
    assert (listed["remaining_cents"], listed["applied_to_invoice_id"]) == (0, december["id"])
    # A rerun of December applies nothing twice.
    world.billing_run(operator, "2026-12")
    assert world.call("GET", f"/invoices/{december['id']}", org.master).json_body["total_cents"] == \
        december["total_cents"]


def test_a_credit_larger_than_the_next_invoice_leaves_the_rest_for_the_one_after(world, clock):
    org = world.organization(closing_day=10, items=())
    world.seed_catalog()
    world.accept_contract(org)
    operator = world.operator()
    # November bills 10 E3 seats and 5 Exchange seats; the Exchange ones end on 11 Nov.
    world.subscription(org, "MS365-E3", 10)
    world.subscription_timeline(org, "EXO-PLAN1", [Segment(date(2026, 10, 1), 5), Segment(date(2026, 11, 11), 0)])
    clock.now = sp(2026, 11, 11, 9)
    world.billing_run(operator, "2026-11")
    [november] = world.call("GET", "/invoices", org.master).json_body["items"]
    granted = _credit(world, operator, november["id"], november["total_cents"])  # all of it
    assert granted.status_code == 201, granted.json_body

    clock.now = sp(2026, 12, 11, 9)
    world.billing_run(operator, "2026-12")
    december = next(i for i in world.call("GET", "/invoices", org.master).json_body["items"]
                    if i["period_end"] == "2026-12-10")
    assert december["total_cents"] == 0 and december["status"] == "paid"  # nothing to pay, no boleto
    assert world.call("GET", f"/invoices/{december['id']}/boleto", org.master).status_code == 404
    december_lines = world.call("GET", f"/invoices/{december['id']}", org.master).json_body["lines"]
    used_in_december = -sum(line["amount_cents"] for line in december_lines if line["amount_cents"] < 0)
    [listed] = world.call("GET", f"/backoffice/invoices/{november['id']}/credit-notes", operator).json_body["items"]
    left = november["total_cents"] - used_in_december
    assert left > 0 and listed["remaining_cents"] == left and listed["applied_to_invoice_id"] == december["id"]

    clock.now = sp(2027, 1, 11, 9)
    world.billing_run(operator, "2027-01")
    january = next(i for i in world.call("GET", "/invoices", org.master).json_body["items"]
                   if i["period_end"] == "2027-01-10")
    january_lines = world.call("GET", f"/invoices/{january['id']}", org.master).json_body["lines"]
    assert [line["amount_cents"] for line in january_lines if line["amount_cents"] < 0] == [-left]
    assert january["total_cents"] == used_in_december - left  # same seats as December, less what was left
    [listed] = world.call("GET", f"/backoffice/invoices/{november['id']}/credit-notes", operator).json_body["items"]
    assert listed["remaining_cents"] == 0


def test_two_credit_notes_at_once_never_exceed_the_invoice_total(world, clock, monkeypatch):
    org, operator, invoice = billed(world, clock)
    share = invoice["total_cents"] * 6 // 10
    reading_together(monkeypatch, world.deps.invoices, "get", 2)
    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda n: _credit(world, operator, invoice["id"], share, f"Crédito {n}"), range(2)))

    assert sorted(r.status_code for r in responses) == [201, 422]
    [refused] = [r for r in responses if r.status_code == 422]
    assert refused.json_body["error"]["code"] == "credit_exceeds_invoice"
    assert world.deps.invoices.get(invoice["id"]).credited_cents == share
    assert len(world.call("GET", f"/backoffice/invoices/{invoice['id']}/credit-notes", operator)
               .json_body["items"]) == 1
    assert len(_trail(world, org, "invoice.credit_note_granted")) == 1


def test_bad_credit_notes_are_refused_with_nothing_written(world, clock):
    org, operator, invoice = billed(world, clock)
    world.deps.bank.calls.clear()
    outbox = len(world.outbox())
    version = world.deps.invoices.get(invoice["id"]).version
    path = f"/backoffice/invoices/{invoice['id']}/credit-notes"

    too_much = _credit(world, operator, invoice["id"], invoice["total_cents"] + 1)
    zero = world.call("POST", path, operator, {"amount_cents": 0, "reason": REASON})
    decimal = world.call("POST", path, operator, {"amount_cents": 10.5, "reason": REASON})
    no_reason = world.call("POST", path, operator, {"amount_cents": 100})
    unknown = _credit(world, operator, "nao-existe", 100)
    customer = world.call("POST", path, org.master, {"amount_cents": 100, "reason": REASON})

    assert (too_much.status_code, too_much.json_body["error"]["code"]) == (422, "credit_exceeds_invoice")
    assert zero.status_code == 400 and decimal.status_code == 400
    assert (no_reason.status_code, no_reason.json_body["error"]["code"]) == (400, "required")
    assert unknown.status_code == 404 and customer.status_code == 403
    assert world.call("GET", path, operator).json_body["items"] == []
    _nothing_happened(world, org, invoice["id"], version, outbox)


def test_cancelling_an_invoice_that_used_a_credit_gives_the_credit_back_to_its_replacement(world, clock):
    org, operator, invoice = billed(world, clock)
    assert _credit(world, operator, invoice["id"], 3000).status_code == 201
    clock.now = sp(2026, 12, 11, 9)
    world.billing_run(operator, "2026-12")
    december = next(i for i in world.call("GET", "/invoices", org.master).json_body["items"]
                    if i["period_end"] == "2026-12-10")
    credited_path = f"/backoffice/invoices/{invoice['id']}/credit-notes"

    response = _cancel(world, operator, december["id"], reissue=True)

    assert response.status_code == 200, response.json_body
    new = response.json_body["reissued_invoice"]
    assert new["total_cents"] == december["total_cents"]  # the credit applied again, once
    [listed] = world.call("GET", credited_path, operator).json_body["items"]
    assert (listed["remaining_cents"], listed["applied_to_invoice_id"]) == (0, new["id"])


def test_a_reissue_computes_the_lines_again_with_the_terms_rules(world, clock):
    org, operator, invoice = billed(world, clock)
    # Corrected data: 5 seats of Microsoft 365 E5 (a year paid up front) since 20 Oct were missing.
    world.subscription_timeline(org, "MS365-E5", [Segment(date(2026, 10, 20), 5)])

    response = _cancel(world, operator, invoice["id"], reissue=True)

    assert response.status_code == 200, response.json_body
    new = world.call("GET", f"/invoices/{response.json_body['reissued_invoice']['id']}", org.master).json_body
    lines = [(l["sku"], l["description"], l["amount_cents"], l["months"]) for l in new["lines"]]
    # The term starts in the period: billed whole, 5 × 328,70 × 12; the monthly line names its term.
    assert ("MS365-E5", "Microsoft 365 E5 — 5 licenças, anual, 20/10/2026 a 19/10/2027", 1972200, 12) in lines
    [e3] = [line for line in lines if line[0] == "MS365-E3"]
    assert e3[1].endswith(" (anual, cobrança mensal)")
    assert new["total_cents"] == sum(line[2] for line in lines) == invoice["total_cents"] + 1972200
