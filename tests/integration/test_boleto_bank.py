"""The boleto the bank registers: its own (dynamic) Pix, the check of the codes it answers, the
second copy and the cancellation that leave neither the old boleto nor its Pix payable, and the
bank's refusals (recorded, the operators told, registered again by an operator)."""
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from chalicelib.adapters.bank import BankRejected
from chalicelib.domain import boleto as boleto_rules
from chalicelib.domain import pix
from chalicelib.domain.clock import FixedClock
from chalicelib.services import documents
from tests.support import ADDRESS, billed_in_november, body_text, in_parallel, reading_together, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def billed(world, clock, address="default"):
    """An organisation with 10 seats, billed at its 10 Nov closing (due Mon 23 Nov): (org, operator, invoice id)."""
    org, operator, invoice = billed_in_november(world, clock, **({} if address == "default" else {"address": address}))
    return org, operator, invoice.id


def subjects(world, text):
    return [m for m in world.outbox() if text in m["Subject"]]


def other_line(world, request):
    """The linha digitável of another boleto (one centavo more): check digits valid, not ours."""
    layout = documents.boleto_layout(world.deps.settings)
    return boleto_rules.make_boleto(layout, 999, request.due_date, request.amount_cents + 1).digitable_line


def answering_another_line(world, monkeypatch):
    """A bank that registers the boleto but answers another boleto's linha digitável."""
    register = world.deps.bank.register
    monkeypatch.setattr(world.deps.bank, "register",
                        lambda request: replace(register(request), digitable_line=other_line(world, request)))
    return register


def test_the_invoice_email_gives_the_banks_pix_copia_e_cola(world, clock):
    org, _, invoice_id = billed(world, clock)
    view = world.call("GET", f"/invoices/{invoice_id}/boleto", org.master).json_body
    world.drain_queues()
    [email] = subjects(world, "Fatura nº")
    expires = view["pix_expires_on"]
    day = f"{expires[8:10]}/{expires[5:7]}/{expires[:4]}"
    assert f"Pix copia e cola (pagável até {day}): {view['pix_payload']}" in body_text(email)
    assert world.deps.settings.pix_key not in body_text(email)
    # The payer's app shows who is paid: the reseller (the recebedor), as a bank's code names it.
    assert pix.parse(view["pix_payload"])["59"] == "Brasoftware Informatica L"


# --- the second copy kills the old boleto and its Pix ------------------------------------------

def test_after_a_second_copy_neither_the_old_boleto_nor_its_pix_can_be_paid_and_the_new_pix_can(world, clock):
    org, _, invoice_id = billed(world, clock)
    bank = world.deps.bank
    old = world.call("GET", f"/invoices/{invoice_id}/boleto", org.master).json_body
    clock.now = sp(2026, 12, 1, 10)
    response = world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master)
    assert response.status_code == 201
    new = response.json_body
    assert new["pix_payload"] != old["pix_payload"] and pix.dynamic_location(new["pix_payload"]) == new["pix_location"]
    today = sp(2026, 12, 1).date()
    with pytest.raises(BankRejected):
        bank.pay_pix(old["pix_payload"], today)
    with pytest.raises(BankRejected):
        bank.pay(old["nosso_numero"], today)
    # The new one, by Pix on its due date: exactly the amount the second copy shows.
    assert bank.pay_pix(new["pix_payload"], sp(2026, 12, 4).date()) == new["amount_cents"]


def test_the_bank_charges_a_late_second_copy_interest_on_the_open_balance_and_no_new_fine(world, clock):
    org, _, invoice_id = billed(world, clock)
    balance = world.deps.invoices.get(invoice_id).balance_cents
    clock.now = sp(2026, 12, 1, 10)
    new = world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master).json_body
    bank, settings = world.deps.bank, world.deps.settings
    registered = bank.registered(new["nosso_numero"])
    assert (registered.amount_cents, registered.due_date.isoformat()) == (new["amount_cents"], new["due_date"])
    # Its amount holds the fine and interest up to its due date: no fine again, no interest on them.
    assert (registered.fine_rate, registered.interest_base_cents) == (Decimal(0), balance)
    assert registered.monthly_interest == Decimal(settings.late_monthly_interest)
    due = registered.due_date
    assert bank.amount_due(new["nosso_numero"], due) == new["amount_cents"]
    # Paid 6 days late: only 6 more days of interest on the open balance.
    interest = boleto_rules.late_amount(balance, 6, Decimal(0), Decimal(settings.late_monthly_interest)) - balance
    late = new["amount_cents"] + interest
    compounded = boleto_rules.late_amount(new["amount_cents"], 6, Decimal(settings.late_fine_rate),
                                          Decimal(settings.late_monthly_interest))
    assert bank.amount_due(new["nosso_numero"], due + timedelta(days=6)) == late < compounded
    assert bank.pay(new["nosso_numero"], due + timedelta(days=6)) == late


def test_a_cancelled_invoice_leaves_neither_its_boleto_nor_its_pix_payable(world, clock):
    org, operator, invoice_id = billed(world, clock)
    old = world.call("GET", f"/invoices/{invoice_id}/boleto", org.master).json_body
    cancelled = world.call("POST", f"/backoffice/invoices/{invoice_id}/cancel", operator,
                           {"reason": "Quantidade de licenças lançada errada"})
    assert cancelled.status_code == 200, cancelled.json_body
    today = sp(2026, 11, 12).date()
    with pytest.raises(BankRejected):
        world.deps.bank.pay_pix(old["pix_payload"], today)
    with pytest.raises(BankRejected):
        world.deps.bank.pay(old["nosso_numero"], today)


# --- the bank's codes are checked before anything is shown -------------------------------------

def test_a_second_copy_the_bank_answers_with_another_linha_is_withdrawn_and_the_operators_told(
        world, clock, monkeypatch):
    org, _, invoice_id = billed(world, clock)
    before = world.deps.invoices.get(invoice_id)
    world.drain_queues()
    sent_before = len(world.outbox())
    clock.now = sp(2026, 12, 1, 10)
    answering_another_line(world, monkeypatch)
    response = world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master)
    assert response.status_code == 503 and response.json_body["error"]["code"] == "bank_codes_mismatch"
    [registered] = [nn for nn in world.deps.bank.nosso_numeros() if nn != before.active_boleto.nosso_numero]
    assert not world.deps.bank.is_registered(registered)  # withdrawn at once: never payable
    assert world.deps.bank.is_registered(before.active_boleto.nosso_numero)  # the old one still stands
    after = world.deps.invoices.get(invoice_id)
    assert after.boletos == before.boletos  # nothing saved
    world.drain_queues()
    [told] = subjects(world, "Boleto não confere")
    assert told["To"] == world.deps.settings.operators_email
    text = body_text(told)
    assert boleto_rules.digitable_line(world.deps.bank.registered(registered).barcode) in text  # ours
    assert other_line(world, world.deps.bank.registered(registered)) in text  # the bank's
    assert "O registro foi baixado no banco" in text
    assert len(world.outbox()) == sent_before + 1  # no second-copy email to the customer
    # The claim was released: with the bank right again, the second copy goes through.
    monkeypatch.undo()
    assert world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master).status_code == 201


def test_the_documents_step_fails_on_codes_that_do_not_hold_then_the_operator_registers_the_boleto(
        world, clock, monkeypatch):
    answering_another_line(world, monkeypatch)
    org, operator, invoice_id = billed(world, clock)
    invoice = world.deps.invoices.get(invoice_id)
    assert invoice.boletos == () and invoice.email_queued_at is None  # nothing shown, nothing sent
    nosso_numero = world.deps.bank.nosso_numeros()[0]
    assert not world.deps.bank.is_registered(nosso_numero)
    assert len(subjects(world, "Boleto não confere")) == 1 and subjects(world, "Fatura nº") == []
    # The queue's retry, the bank right again: the invoice's own nosso número was withdrawn, and
    # the bank refuses it now; the refusal is recorded, the operators told, the email waits.
    monkeypatch.undo()
    world.make_visible()
    world.drain_queues()
    refused = world.deps.invoices.get(invoice_id)
    assert refused.boletos == () and refused.boleto_failure.attempts == 1 and refused.email_queued_at is None
    assert len(subjects(world, "Boleto recusado")) == 1 and subjects(world, "Fatura nº") == []
    # The operator's new registration takes a fresh nosso número, and the invoice email goes out.
    response = world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator)
    assert response.status_code == 200, response.json_body
    assert response.json_body["boleto_failure"] is None
    registered = world.deps.invoices.get(invoice_id).active_boleto
    assert registered.nosso_numero != nosso_numero and world.deps.bank.is_registered(registered.nosso_numero)
    world.drain_queues()
    [email] = subjects(world, "Fatura nº")
    assert f"boleto-fatura-{invoice.number}.pdf" in {p.get_filename() for p in email.iter_attachments()}


# --- the bank's refusals ------------------------------------------------------------------------

def test_a_customer_without_an_address_gets_no_boleto_sent_the_operators_are_told_and_register_it_once_fixed(
        world, clock):
    org, operator, invoice_id = billed(world, clock, address=None)
    bank = world.deps.bank
    assert bank.calls_of("register") == []  # checked before the bank: never left for it to refuse
    invoice = world.deps.invoices.get(invoice_id)
    assert invoice.boletos == () and invoice.email_queued_at is None
    assert [code for code, _ in invoice.boleto_failure.reasons] == ["payer_address_missing"]
    world.drain_queues()
    [told] = subjects(world, "Boleto recusado")
    assert told["To"] == world.deps.settings.operators_email
    assert f"PUT /backoffice/organizations/{org.id}/address" in body_text(told)
    assert f"POST /backoffice/invoices/{invoice_id}/boleto" in body_text(told)
    assert subjects(world, "Fatura nº") == []  # the customer's email waits for the boleto
    # A duplicate delivery of the documents step sends nothing again, to the bank or the operators.
    documents.prepare(world.deps, world.deps.invoices.get(invoice_id))
    world.drain_queues()
    assert bank.calls_of("register") == [] and len(subjects(world, "Boleto recusado")) == 1
    seen = world.call("GET", f"/backoffice/invoices/{invoice_id}", operator).json_body
    assert seen["boleto_failure"]["reasons"][0]["code"] == "payer_address_missing"
    assert seen["boleto_failure"]["attempts"] == 1
    listed = world.call("GET", "/backoffice/invoices?boleto=rejected", operator).json_body["items"]
    assert [(i["id"], i["boleto_failure"]["attempts"]) for i in listed] == [(invoice_id, 1)]
    bad = world.call("GET", "/backoffice/invoices?boleto=recusado", operator)
    assert bad.status_code == 400 and bad.json_body["error"]["code"] == "invalid_boleto_filter"
    # Registering again before the address is fixed: refused, nothing sent to the bank.
    early = world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator)
    assert early.status_code == 422 and early.json_body["error"]["code"] == "boleto_payer_address_missing"
    assert f"/backoffice/organizations/{org.id}/address" in early.json_body["error"]["message"]
    assert bank.calls_of("register") == []

    fixed = world.call("PUT", f"/backoffice/organizations/{org.id}/address", operator, ADDRESS)
    assert fixed.status_code == 200, fixed.json_body
    response = world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator)
    assert response.status_code == 200, response.json_body
    assert response.json_body["boleto_failure"] is None
    boleto = world.deps.invoices.get(invoice_id).active_boleto
    assert bank.is_registered(boleto.nosso_numero) and bank.registered(boleto.nosso_numero).payer.address is not None
    assert pix.dynamic_location(boleto.pix_payload) == boleto.pix_location
    assert world.call("GET", "/backoffice/invoices?boleto=rejected", operator).json_body["items"] == []
    world.drain_queues()
    [email] = subjects(world, "Fatura nº")
    assert f"boleto-fatura-{invoice.number}.pdf" in {p.get_filename() for p in email.iter_attachments()}
    # Asked again: nothing more at the bank, no second email.
    again = world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator)
    assert again.status_code == 200 and len(bank.calls_of("register")) == 1
    world.drain_queues()
    assert len(subjects(world, "Fatura nº")) == 1


def test_a_bank_refusal_in_the_documents_step_is_recorded_once_and_registered_again_by_the_operator(
        world, clock, monkeypatch):
    bank = world.deps.bank
    register = bank.register
    refusal = BankRejected((("4874915", "Código do município do pagador inválido"),))

    def refusing(request):
        bank.calls.append(("register", request.nosso_numero))
        raise refusal

    monkeypatch.setattr(bank, "register", refusing)
    org, operator, invoice_id = billed(world, clock)
    invoice = world.deps.invoices.get(invoice_id)
    assert invoice.boleto_failure.reasons == (("4874915", "Código do município do pagador inválido"),)
    assert invoice.email_queued_at is None and invoice.boletos == ()
    world.make_visible()
    world.drain_queues()  # nothing left to retry: the step ended, the refusal recorded
    assert len(bank.calls_of("register")) == 1
    [told] = subjects(world, "Boleto recusado")
    assert "4874915: Código do município do pagador inválido" in body_text(told)
    # Refused again on the operator's attempt: 422 with the bank's reasons, one attempt more, told again.
    again = world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator)
    assert again.status_code == 422 and again.json_body["error"]["code"] == "bank_rejected"
    assert "4874915" in again.json_body["error"]["message"]
    assert world.deps.invoices.get(invoice_id).boleto_failure.attempts == 2
    world.drain_queues()
    assert len(subjects(world, "Boleto recusado")) == 2 and subjects(world, "Fatura nº") == []
    # The data fixed at the bank: registered, the claim released by the refusal's save.
    monkeypatch.setattr(bank, "register", register)
    done = world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator)
    assert done.status_code == 200 and done.json_body["boleto_failure"] is None
    world.drain_queues()
    assert len(subjects(world, "Fatura nº")) == 1


def test_a_second_copy_the_bank_refuses_answers_422_saves_nothing_and_frees_the_claim(world, clock, monkeypatch):
    org, _, invoice_id = billed(world, clock)
    before = world.deps.invoices.get(invoice_id)
    world.drain_queues()
    sent = len(world.outbox())
    clock.now = sp(2026, 12, 1, 10)
    register = world.deps.bank.register

    def refusing(request):
        raise BankRejected((("4674843", "Data de vencimento inválida"),))

    monkeypatch.setattr(world.deps.bank, "register", refusing)
    response = world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master)
    assert response.status_code == 422 and response.json_body["error"]["code"] == "bank_rejected"
    assert "4674843: Data de vencimento inválida" in response.json_body["error"]["message"]
    after = world.deps.invoices.get(invoice_id)
    assert after.boletos == before.boletos and after.boleto_failure is None
    assert world.deps.bank.nosso_numeros() == [before.active_boleto.nosso_numero]  # nothing registered
    world.drain_queues()
    assert len(world.outbox()) == sent
    monkeypatch.setattr(world.deps.bank, "register", register)
    assert world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master).status_code == 201


def test_a_second_copy_for_a_customer_without_an_address_is_refused_before_the_bank(world, clock):
    org, _, invoice_id = billed(world, clock, address=None)
    world.drain_queues()
    sent = len(world.outbox())
    clock.now = sp(2026, 12, 1, 10)
    before = world.deps.invoices.get(invoice_id)
    response = world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master)
    assert response.status_code == 422
    assert response.json_body["error"]["code"] == "boleto_payer_address_missing"
    assert world.deps.bank.calls_of("register") == []
    assert world.deps.invoices.get(invoice_id) == before  # nothing written, not even a claim
    world.drain_queues()
    assert len(world.outbox()) == sent


def test_two_operators_registering_the_same_refused_boleto_at_once_register_one(world, clock, monkeypatch):
    org, operator, invoice_id = billed(world, clock, address=None)
    assert world.call("PUT", f"/backoffice/organizations/{org.id}/address", operator, ADDRESS).status_code == 200
    reading_together(monkeypatch, world.deps.invoices, "get", 2)
    answers = in_parallel(2, lambda n: world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.json_body for a in answers]
    [lost] = [a for a in answers if a.status_code == 409]
    assert lost.json_body["error"]["code"] in ("second_copy_in_progress", "version_conflict")
    assert len(world.deps.bank.calls_of("register")) == 1
    assert len(world.deps.invoices.get(invoice_id).boletos) == 1
    world.drain_queues()
    assert len(subjects(world, "Fatura nº")) == 1


def test_the_demo_customer_make_run_bills_gets_a_registered_boleto_with_the_banks_pix(world, clock):
    from local import seed

    clock.now = sp(2026, 11, 21, 9)  # the day after the billed demo customer's closing (day 20)
    accounts = seed.seed(world.deps)
    [account] = [a for a in accounts if world.deps.organizations.get(a.organization_id).name == "Oficina Digital Ltda"]
    operator = world.operator()
    assert world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"}).status_code == 202
    world.drain_queues()
    [invoice] = world.deps.invoices.list(account.organization_id, status=None, limit=10, next_token=None)[0]
    assert invoice.boleto_failure is None
    boleto = invoice.active_boleto
    assert world.deps.bank.is_registered(boleto.nosso_numero)
    assert pix.dynamic_location(boleto.pix_payload) == boleto.pix_location


def test_a_note_emitted_again_while_the_boleto_stands_refused_waits_for_the_invoice_email(world, clock):
    from chalicelib.domain.nfse import Rejection

    world.deps.nfse_emitter.reject_next((Rejection("E0116", "CEP do tomador inválido", None),))
    org, operator, invoice_id = billed(world, clock, address=None)
    refused = world.deps.invoices.get(invoice_id)
    assert refused.nfse_failure is not None and refused.boleto_failure is not None
    world.drain_queues()
    [nfse_told] = [m for m in world.outbox() if m["Subject"].startswith("NFS-e recusada")]
    assert "o e-mail da fatura sai quando o boleto for registrado" in body_text(nfse_told)
    # The note emitted again: recorded, but not emailed on its own (the invoice email will carry it).
    emitted = world.call("POST", f"/backoffice/invoices/{invoice_id}/nfse", operator)
    assert emitted.status_code == 200, emitted.json_body
    assert emitted.json_body["nfse_status"] == "issued" and emitted.json_body["boleto_failure"] is not None
    world.drain_queues()
    assert [m["Subject"] for m in world.outbox()
            if "Fatura nº" in m["Subject"] or m["Subject"].startswith("Nota fiscal")] == []
    assert world.call("PUT", f"/backoffice/organizations/{org.id}/address", operator, ADDRESS).status_code == 200
    assert world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator).status_code == 200
    world.drain_queues()
    [email] = subjects(world, "Fatura nº")
    note = world.deps.invoices.get(invoice_id).nfse
    assert {f"nfse-{note.number}.pdf", f"nfse-{note.number}.xml", f"boleto-fatura-{refused.number}.pdf"} <= \
        {p.get_filename() for p in email.iter_attachments()}


# --- the bank refuses a baixa -------------------------------------------------------------------

def refusing_baixa(world, monkeypatch):
    """A bank that refuses every baixa, as Banco do Brasil does minutes after a registration."""
    def refuse(nosso_numero):
        raise BankRejected((("4874930", "Título em processamento: baixa não permitida"),))
    monkeypatch.setattr(world.deps.bank, "cancel", refuse)


def test_a_second_copy_whose_old_boleto_the_bank_will_not_withdraw_stands_and_the_operators_are_told(
        world, clock, monkeypatch):
    org, _, invoice_id = billed(world, clock)
    old = world.call("GET", f"/invoices/{invoice_id}/boleto", org.master).json_body
    world.drain_queues()
    sent_before = len(world.outbox())
    clock.now = sp(2026, 12, 1, 10)
    refusing_baixa(world, monkeypatch)
    response = world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master)
    assert response.status_code == 201, response.json_body
    saved = world.deps.invoices.get(invoice_id)
    assert saved.active_boleto.nosso_numero == response.json_body["nosso_numero"] != old["nosso_numero"]
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    [failed] = [e for e in trail if e["action"] == "boleto.cancel_failed"]
    assert failed["after"]["nosso_numero"] == old["nosso_numero"] and "4874930" in failed["after"]["error"]
    world.drain_queues()
    [told] = subjects(world, "Baixar boleto no banco")
    assert told["To"] == world.deps.settings.operators_email
    assert old["nosso_numero"] in body_text(told) and "recusou a baixa" in body_text(told)
    assert len(subjects(world, "Segunda via")) == 1
    assert len(world.outbox()) == sent_before + 2  # the customer's second copy and the operators' email


def test_a_mismatched_registration_the_bank_will_not_withdraw_still_answers_the_mismatch_and_says_so(
        world, clock, monkeypatch):
    org, _, invoice_id = billed(world, clock)
    before = world.deps.invoices.get(invoice_id)
    clock.now = sp(2026, 12, 1, 10)
    answering_another_line(world, monkeypatch)
    refusing_baixa(world, monkeypatch)
    response = world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master)
    assert response.status_code == 503 and response.json_body["error"]["code"] == "bank_codes_mismatch"
    assert world.deps.invoices.get(invoice_id).boletos == before.boletos
    world.drain_queues()
    [told] = subjects(world, "Boleto não confere")
    assert "o banco não respondeu à baixa" in body_text(told)


def test_a_cancellation_whose_boleto_the_bank_will_not_withdraw_answers_422_and_leaves_the_invoice_open(
        world, clock, monkeypatch):
    org, operator, invoice_id = billed(world, clock)
    before = world.deps.invoices.get(invoice_id)
    world.drain_queues()
    sent_before = len(world.outbox())
    refusing_baixa(world, monkeypatch)
    response = world.call("POST", f"/backoffice/invoices/{invoice_id}/cancel", operator,
                          {"reason": "Quantidade de licenças lançada errada"})
    assert response.status_code == 422 and response.json_body["error"]["code"] == "bank_rejected", response.json_body
    after = world.deps.invoices.get(invoice_id)
    assert after.status == before.status and after.cancellation is None and after.boletos == before.boletos
    world.drain_queues()
    assert len(world.outbox()) == sent_before  # nobody told the invoice was cancelled
    monkeypatch.undo()  # the bank takes the baixa later: the claim was released
    assert world.call("POST", f"/backoffice/invoices/{invoice_id}/cancel", operator,
                      {"reason": "Quantidade de licenças lançada errada"}).status_code == 200


# --- a boleto the bank already received is settled, never replaced ------------------------------

def test_a_second_copy_of_a_boleto_paid_by_pix_settles_it_once_answers_409_and_registers_nothing(world, clock):
    org, _, invoice_id = billed(world, clock)
    bank = world.deps.bank
    old = world.call("GET", f"/invoices/{invoice_id}/boleto", org.master).json_body
    clock.now = sp(2026, 11, 25, 9)
    amount = bank.pay_pix(old["pix_payload"], sp(2026, 11, 25).date())  # the webhook has not come yet
    registered_before = bank.nosso_numeros()
    response = world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master)
    assert response.status_code == 409 and response.json_body["error"]["code"] == "boleto_already_paid"
    assert "25/11" in response.json_body["error"]["message"]
    assert bank.nosso_numeros() == registered_before  # no new boleto at the bank
    invoice = world.call("GET", f"/invoices/{invoice_id}", org.master).json_body
    # Paid late: the balance is applied (the fine and interest above it are the webhook's surplus).
    assert amount > invoice["total_cents"]
    assert invoice["status"] == "paid" and [p["amount_cents"] for p in invoice["payments"]] == [invoice["total_cents"]]
    assert world.deps.invoices.get(invoice_id).active_boleto.nosso_numero == old["nosso_numero"]
    # The bank's webhook arriving now records nothing more.
    hook = world.call("POST", "/webhooks/bank/simulated-webhook-token", None, bank.webhook_body(old["nosso_numero"]),
                      headers={"Content-Type": "application/json"})
    assert hook.json_body["already_recorded"] == 1 and hook.json_body["settled"] == 0
    assert len(world.call("GET", f"/invoices/{invoice_id}", org.master).json_body["payments"]) == 1


def test_the_bank_down_when_asked_before_a_second_copy_answers_503_writes_nothing_and_frees_the_claim(
        world, clock, monkeypatch):
    from chalicelib.adapters.bank import BankUnavailable
    org, _, invoice_id = billed(world, clock)
    bank = world.deps.bank
    before = world.deps.invoices.get(invoice_id)
    registered_before = bank.nosso_numeros()
    clock.now = sp(2026, 12, 1, 10)
    real = bank.query

    def down(nosso_numero):
        raise BankUnavailable("timeout")
    monkeypatch.setattr(bank, "query", down)
    response = world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master)
    assert response.status_code == 503 and response.json_body["error"]["code"] == "bank_unavailable"
    after = world.deps.invoices.get(invoice_id)
    assert (after.boletos, after.paid_cents, after.boleto_failure) == (before.boletos, before.paid_cents, None)
    assert bank.nosso_numeros() == registered_before
    monkeypatch.setattr(bank, "query", real)
    assert world.call("POST", f"/invoices/{invoice_id}/second-copy", org.master).status_code == 201


def test_cancelling_an_invoice_whose_boleto_the_bank_received_settles_it_answers_409_and_cancels_nothing(
        world, clock):
    org, operator, invoice_id = billed(world, clock)
    bank = world.deps.bank
    old = world.call("GET", f"/invoices/{invoice_id}/boleto", org.master).json_body
    amount = bank.pay_pix(old["pix_payload"], sp(2026, 11, 12).date())
    clock.now = sp(2026, 11, 12, 10)
    world.drain_queues()
    sent_before = len(world.outbox())
    response = world.call("POST", f"/backoffice/invoices/{invoice_id}/cancel", operator,
                          {"reason": "Quantidade de licenças lançada errada"})
    assert response.status_code == 409 and response.json_body["error"]["code"] == "invoice_paid_at_bank"
    assert "12/11" in response.json_body["error"]["message"]
    invoice = world.deps.invoices.get(invoice_id)
    assert (invoice.status, invoice.paid_cents, invoice.cancellation) == ("paid", amount, None)
    assert invoice.nfse is not None and not invoice.nfse.cancelled_protocol  # the note was not cancelled
    world.drain_queues()
    assert not subjects(world, "cancelada") and len(world.outbox()) == sent_before


# --- a refused boleto's invoice paid by deposit ------------------------------------------------

def test_a_refused_boleto_invoice_paid_by_deposit_gets_its_email_and_leaves_the_refused_list(world, clock):
    org, operator, invoice_id = billed(world, clock, address=None)
    invoice = world.deps.invoices.get(invoice_id)
    world.drain_queues()
    assert subjects(world, "Fatura nº") == []  # held for the boleto
    paid = world.call("POST", f"/backoffice/invoices/{invoice_id}/payments", operator,
                      {"amount_cents": invoice.total_cents, "paid_on": "2026-11-11", "method": "deposito"})
    assert paid.status_code == 201, paid.json_body
    assert world.call("GET", "/backoffice/invoices?boleto=rejected", operator).json_body["items"] == []
    assert not documents.awaits_boleto(world.deps.invoices.get(invoice_id))
    world.drain_queues()
    [email] = subjects(world, "Fatura nº")
    names = {p.get_filename() for p in email.iter_attachments()}
    assert f"nfse-{invoice.nfse.number}.pdf" in names and not any(n.startswith("boleto") for n in names)
    # The operator's registration now: nothing to register for a paid invoice, nothing at the bank.
    fixed = world.call("PUT", f"/backoffice/organizations/{org.id}/address", operator, ADDRESS)
    assert fixed.status_code == 200
    again = world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator)
    assert again.status_code == 409 and again.json_body["error"]["code"] == "boleto_not_needed"
    assert world.deps.bank.calls_of("register") == []
    world.drain_queues()
    assert len(subjects(world, "Fatura nº")) == 1


def test_a_boleto_registered_by_the_operator_while_a_deposit_pays_the_invoice_is_withdrawn(world, clock, monkeypatch):
    org, operator, invoice_id = billed(world, clock, address=None)
    invoice = world.deps.invoices.get(invoice_id)
    assert world.call("PUT", f"/backoffice/organizations/{org.id}/address", operator, ADDRESS).status_code == 200
    bank = world.deps.bank
    register = bank.register

    def paid_meanwhile(request):  # the deposit recorded while the bank registers the boleto
        answer = register(request)
        assert world.call("POST", f"/backoffice/invoices/{invoice_id}/payments", operator,
                          {"amount_cents": invoice.total_cents, "paid_on": "2026-11-11",
                           "method": "deposito"}).status_code == 201
        return answer
    monkeypatch.setattr(bank, "register", paid_meanwhile)
    response = world.call("POST", f"/backoffice/invoices/{invoice_id}/boleto", operator)
    assert response.status_code == 409, response.json_body
    [nosso_numero] = bank.nosso_numeros()
    assert not bank.is_registered(nosso_numero)  # withdrawn: never payable for a paid invoice
    after = world.deps.invoices.get(invoice_id)
    assert (after.status, after.boletos) == ("paid", ())
