"""FATURAS: the boleto (registered, with Pix), the NFS-e and the invoice PDF made once per invoice,
attached to the monthly email, downloadable through short-lived links; the second copy."""
import shutil
import subprocess
from dataclasses import replace
from datetime import timedelta

import pytest
import requests

from chalicelib.adapters.bank import SimulatedBank
from chalicelib.adapters.mail import PermanentMailFailure
from chalicelib.domain import boleto, pix
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.money import format_brl
from tests.support import body_html, body_text, failing_first, reading_together, sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def billed(world, clock, payment_method="boleto"):
    """An organisation with one subscription, billed at its 10 Nov closing."""
    org = world.organization(closing_day=10)
    world.seed_catalog()
    world.accept_contract(org)
    if payment_method != "boleto":
        contract = world.deps.contracts.get(org.id)
        from dataclasses import replace
        world.deps.contracts.save(replace(contract, payment_method=payment_method, version=contract.version + 1),
                                  expected_version=contract.version, audit=_entry(world, org))
    world.subscription(org, "MS365-E3", 10)
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"})
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    return org, invoice


def _entry(world, org):
    from chalicelib.services import audit
    from local.seed import SEED_ACTOR

    return audit.entry(world.deps, SEED_ACTOR, org.id, "test.contract_changed", "contract")


def attachments(message):
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def test_the_monthly_email_carries_the_boleto_and_the_nfse(world, clock):
    org, invoice = billed(world, clock)
    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    files = attachments(email)
    assert set(files) == {f"boleto-fatura-{invoice['number']}.pdf", "nfse-1.pdf", "nfse-1.xml"}
    assert files[f"boleto-fatura-{invoice['number']}.pdf"].startswith(b"%PDF")
    boleto_view = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    assert f"Linha digitável do boleto: {boleto_view['digitable_line_formatted']}" in body_text(email)
    assert "R$ 2.071,00" in body_text(email)  # 10 × R$ 207,10, a full period


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")
def test_the_nfse_pdf_prints_the_iss_rate_as_a_ptbr_percent(world, clock):
    org, invoice = billed(world, clock)
    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    document = attachments(email)["nfse-1.pdf"]
    text = subprocess.run(["pdftotext", "-", "-"], input=document, capture_output=True, check=True).stdout.decode()
    # The DANFSe's "Alíquota Aplicada", from the note's pAliq (2.90), in pt-BR.
    assert "2,90 %" in text and "0.029" not in text and "2.90" not in text


def test_the_boleto_holds_together_and_matches_the_invoice(world, clock):
    org, invoice = billed(world, clock)
    response = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master)
    assert response.status_code == 200
    view = response.json_body
    parsed = boleto.parse(view["digitable_line"], reference=sp(2026, 11, 10).date())
    assert (parsed.amount_cents, parsed.due_date.isoformat()) == (invoice["total_cents"], invoice["due_date"])
    assert parsed.bank_code == "001" and boleto.barcode_from_line(view["digitable_line"]) == view["barcode"]
    assert world.deps.bank.is_registered(view["nosso_numero"])
    fields = pix.parse(view["pix_payload"])
    assert fields["54"] == f"{invoice['total_cents'] // 100}.{invoice['total_cents'] % 100:02d}"


def test_the_boleto_carries_the_banks_dynamic_pix_never_the_static_key(world, clock):
    org, invoice = billed(world, clock)
    view = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    registered = world.deps.bank.registered(view["nosso_numero"])
    # The bank's own BR Code (CRC checked by dynamic_location), naming the charge's location.
    assert pix.dynamic_location(view["pix_payload"]) == view["pix_location"]
    assert view["pix_location"].startswith(SimulatedBank.LOCATION_PREFIX)
    assert world.deps.settings.pix_key not in view["pix_payload"]
    assert view["pix_expires_on"] == (registered.due_date + timedelta(days=registered.payable_days_after_due)).isoformat()
    stored = world.deps.invoices.get(invoice["id"]).active_boleto
    assert (stored.pix_payload, stored.pix_location) == (view["pix_payload"], view["pix_location"])
    # Payable by Pix: the bank settles the boleto it belongs to.
    assert world.deps.bank.pay_pix(view["pix_payload"], sp(2026, 11, 20).date()) == invoice["total_cents"]
    assert world.deps.bank.query(view["nosso_numero"]).channel == "pix"


def test_download_links_work_and_hand_out_the_stored_documents(world, clock):
    org, invoice = billed(world, clock)
    view = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    pdf = requests.get(view["pdf_url"], timeout=10)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert "X-Amz-Expires=300" in view["pdf_url"]  # short-lived
    nfse = world.call("GET", f"/invoices/{invoice['id']}/nfse", org.master)
    assert nfse.status_code == 200
    xml = requests.get(nfse.json_body["xml_url"], timeout=10).text
    assert "<infDPS" in xml and f"<nNFSe>{nfse.json_body['number']}</nNFSe>" in xml
    assert f"<CNPJ>{org.organization.cnpj}</CNPJ>" in xml and "<cTribNac>010501</cTribNac>" in xml
    detail = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
    assert requests.get(detail["pdf_url"], timeout=10).content.startswith(b"%PDF")


@pytest.mark.skipif(not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
                    reason="needs pdftoppm (poppler-utils) and zbarimg (zbar-tools): .ci/run installs them")
def test_the_boleto_pdf_barcode_scans_back_to_the_44_digits_the_api_returns(world, clock, tmp_path):
    org, invoice = billed(world, clock)
    view = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    (tmp_path / "boleto.pdf").write_bytes(requests.get(view["pdf_url"], timeout=10).content)
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(tmp_path / "boleto.pdf"),
                    str(tmp_path / "boleto")], check=True)
    scanned = subprocess.run(["zbarimg", "-q", "--raw", "-Sdisable", "-Si25.enable", "-Sqrcode.enable",
                              str(tmp_path / "boleto.png")], capture_output=True, text=True).stdout.splitlines()
    assert view["barcode"] in scanned
    assert view["pix_payload"] in scanned


def test_an_invoice_before_its_documents_and_a_boleto_without_pix_answer_their_nulls(world, clock, monkeypatch):
    # The published shapes allow these nulls (World.call holds every answer to them): no PDF link
    # before the documents step succeeds, no Pix when the bank answered none — and then no static
    # key in its place (it would stay payable after a second copy).
    register = world.deps.bank.register
    monkeypatch.setattr(world.deps.bank, "register", lambda request: replace(register(request), pix=None))
    monkeypatch.setattr(world.deps.nfse_emitter, "emit",
                        failing_first(world.deps.nfse_emitter.emit, 1, RuntimeError("prefeitura fora do ar")))
    org, invoice = billed(world, clock)  # the first documents attempt fails, SQS retries it
    detail = world.call("GET", f"/invoices/{invoice['id']}", org.master)
    assert detail.status_code == 200 and detail.json_body["pdf_url"] is None
    assert world.call("GET", f"/invoices/{invoice['id']}/nfse", org.master).status_code == 404
    world.make_visible()  # instead of waiting out the visibility timeout
    world.drain_queues()
    view = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master)
    assert view.status_code == 200
    assert (view.json_body["pix_payload"], view.json_body["pix_location"], view.json_body["pix_expires_on"]) == \
        (None, None, None)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["pdf_url"] is not None


def test_deposit_contracts_get_the_nfse_but_no_boleto(world, clock):
    org, invoice = billed(world, clock, payment_method="deposito")
    response = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master)
    assert response.status_code == 404 and response.json_body["error"]["code"] == "boleto_not_available"
    assert world.call("GET", f"/invoices/{invoice['id']}/nfse", org.master).status_code == 200
    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    assert set(attachments(email)) == {"nfse-1.pdf", "nfse-1.xml"}


DEPOSIT_DETAILS = ("Banco do Brasil (001)", "Agência: 3064-7", "Conta: 12345-6",
                   "Favorecido: Brasoftware Informática Ltda", "CNPJ: 45.997.418/0001-53",
                   "Chave Pix: financeiro@brasoftware.com.br")


def test_a_deposit_invoice_email_shows_the_account_to_pay_into(world, clock):
    billed(world, clock, payment_method="deposito")
    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    text, html = body_text(email), body_html(email)
    for detail in DEPOSIT_DETAILS:
        assert detail in text and detail in html, detail
    assert "Forma de pagamento: Depósito bancário" in text


def test_a_boleto_invoice_shows_no_deposit_account(world, clock):
    org, invoice = billed(world, clock)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["deposit"] is None
    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    body = body_text(email) + body_html(email)
    assert "Dados para depósito" not in body and "Agência: 3064-7" not in body and "Chave Pix" not in body


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")
def test_a_deposit_invoice_pdf_and_view_show_the_account_to_pay_into(world, clock):
    org, invoice = billed(world, clock, payment_method="deposito")
    detail = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
    document = requests.get(detail["pdf_url"], timeout=10).content
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=document, capture_output=True,
                          check=True).stdout.decode()
    lines = [" ".join(line.split()) for line in text.splitlines()]
    assert detail["deposit"] == {"bank": "Banco do Brasil (001)", "agency": "3064-7", "account": "12345-6",
                                 "beneficiary": "Brasoftware Informática Ltda", "cnpj": "45.997.418/0001-53",
                                 "pix_key": "financeiro@brasoftware.com.br"}
    for expected in ("Banco: Banco do Brasil (001)", "Agência: 3064-7", "Conta: 12345-6",
                     "Favorecido: Brasoftware Informática Ltda", "CNPJ do favorecido: 45.997.418/0001-53",
                     "Chave Pix: financeiro@brasoftware.com.br"):
        assert expected in lines, (expected, lines)


def test_a_documents_message_delivered_twice_makes_one_boleto_one_nfse_one_email(world, clock):
    org, invoice = billed(world, clock)
    from chalicelib.services import documents

    before = world.deps.invoices.get(invoice["id"])
    documents.prepare(world.deps, world.deps.invoices.get(invoice["id"]))
    world.drain_queues()
    after = world.deps.invoices.get(invoice["id"])
    assert after.boletos == before.boletos and after.nfse == before.nfse
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == 1


def test_second_copy_of_an_overdue_boleto_adds_fine_and_interest_and_supersedes_the_old_one(world, clock):
    org, invoice = billed(world, clock)
    early = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert early.status_code == 409 and early.json_body["error"]["code"] == "invoice_not_overdue"
    old = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body

    clock.now = sp(2026, 12, 1, 10)  # due 23 Nov (20 Nov is Black Awareness Day); now a week late
    response = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert response.status_code == 201
    new = response.json_body
    # New due date: 3 days on, a business day (Friday 4 Dec); fine and interest to that day.
    assert new["due_date"] == "2026-12-04" and new["kind"] == "second_copy"
    days_late = 11  # 23 Nov → 4 Dec
    total = invoice["total_cents"]
    assert new["amount_cents"] == total + round(total * 0.02) + round(total * 0.01 / 30 * days_late)
    assert new["amount_cents"] == boleto.late_amount(total, days_late)
    assert new["nosso_numero"] != old["nosso_numero"]
    assert world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body["barcode"] == new["barcode"]
    assert not world.deps.bank.is_registered(old["nosso_numero"]) and world.deps.bank.is_registered(new["nosso_numero"])
    world.drain_queues()
    [email] = [m for m in world.outbox() if "Segunda via" in m["Subject"]]
    assert email["To"] == org.master.user.email
    assert set(attachments(email)) == {f"boleto-fatura-{invoice['number']}.pdf"}
    assert "Novo vencimento: 04/12/2026" in body_text(email)


def test_a_second_copy_asked_on_a_friday_is_due_three_bank_business_days_later(world, clock):
    org, invoice = billed(world, clock)  # due Mon 23 Nov
    clock.now = sp(2026, 12, 4, 10)  # Friday
    response = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert response.status_code == 201
    # Mon 7, Tue 8, Wed 9 Dec (3 calendar days would give Mon 7); interest runs to that day.
    assert response.json_body["due_date"] == "2026-12-09"
    assert response.json_body["amount_cents"] == boleto.late_amount(invoice["total_cents"], 16)  # 23 Nov → 9 Dec


def test_the_second_copy_email_calls_the_open_balance_by_its_name(world, clock):
    org, invoice = billed(world, clock)
    operator = world.operator()
    clock.now = sp(2026, 11, 20, 10)
    paid = world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", operator,
                      {"amount_cents": 50000, "paid_on": "2026-11-20", "method": "deposito"})
    assert paid.status_code == 201
    clock.now = sp(2026, 12, 1, 10)
    assert world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master).status_code == 201
    world.drain_queues()
    [email] = [m for m in world.outbox() if "Segunda via" in m["Subject"]]
    balance = format_brl(invoice["total_cents"] - 50000)
    assert f"Saldo em aberto: {balance} (vencimento em 23/11/2026)" in body_text(email)
    assert "Saldo em aberto" in body_html(email) and "Valor original" not in body_text(email) + body_html(email)


def test_a_permanent_email_failure_is_recorded_on_the_invoice_for_the_operators(world, clock, monkeypatch):
    def rejecting(email):
        raise PermanentMailFailure("SES MessageRejected: address blacklisted")

    monkeypatch.setattr(world.deps.mailer, "send", rejecting)
    org, invoice = billed(world, clock)
    operator = world.operator()
    seen = world.call("GET", f"/invoices/{invoice['id']}", operator, headers={"X-Organization-Id": org.id})
    assert "MessageRejected" in seen.json_body["email_error"]


def test_a_writer_holding_the_invoice_from_before_an_email_failure_cannot_erase_it(world, clock):
    from dataclasses import replace

    from chalicelib.domain.errors import Conflict

    org, invoice = billed(world, clock)
    held = world.deps.invoices.get(invoice["id"])
    world.deps.invoices.record_email_failure(invoice["id"], "SES MessageRejected")
    with pytest.raises(Conflict):
        world.deps.invoices.save(replace(held, version=held.version + 1), expected_version=held.version)
    assert world.deps.invoices.get(invoice["id"]).email_error == "SES MessageRejected"


def test_a_bank_outage_while_cancelling_the_old_boleto_still_gives_the_second_copy_and_tells_the_operators(
        world, clock, monkeypatch):
    from chalicelib.adapters.bank import BankUnavailable
    from tests.support import failing_first

    org, invoice = billed(world, clock)
    old = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    monkeypatch.setattr(world.deps.bank, "cancel", failing_first(world.deps.bank.cancel, 1, BankUnavailable("down")))
    clock.now = sp(2026, 12, 1, 10)

    response = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)

    assert response.status_code == 201, response.json_body
    assert world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body["nosso_numero"] == \
        response.json_body["nosso_numero"] != old["nosso_numero"]
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    [failed] = [e for e in trail if e["action"] == "boleto.cancel_failed"]
    assert failed["after"]["nosso_numero"] == old["nosso_numero"]
    assert world.deps.bank.is_registered(old["nosso_numero"])  # still there, for an operator to cancel


def _bank_calls(world, monkeypatch):
    """What reached the bank: registrations and cancellations, by nosso número."""
    calls = {"registered": [], "cancelled": []}
    bank, register, cancel = world.deps.bank, world.deps.bank.register, world.deps.bank.cancel
    monkeypatch.setattr(bank, "register",
                        lambda request: calls["registered"].append(request.nosso_numero) or register(request))
    monkeypatch.setattr(bank, "cancel", lambda nosso_numero: calls["cancelled"].append(nosso_numero) or cancel(nosso_numero))
    return calls




def _raw_invoice(invoice_id):
    from chalicelib.storage import keys
    from chalicelib.storage.models import InvoiceItem

    return InvoiceItem.get(keys.invoice_pk(invoice_id), keys.INVOICE_SK, consistent_read=True)


def _one_second_copy(world, org, invoice, old, new, calls):
    """Every effect of exactly one second copy, and nothing of the requests that lost."""
    assert calls == {"registered": [new["nosso_numero"]], "cancelled": [old["nosso_numero"]]}
    boletos = world.deps.invoices.get(invoice["id"]).boletos
    assert [(b.nosso_numero, b.kind.value, b.status.value) for b in boletos] == [
        (old["nosso_numero"], "original", "superseded"), (new["nosso_numero"], "second_copy", "active")]
    assert _raw_invoice(invoice["id"]).second_copy_until is None  # the claim went with the save
    assert world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body["nosso_numero"] == \
        new["nosso_numero"]
    assert world.deps.bank.is_registered(new["nosso_numero"]) and not world.deps.bank.is_registered(old["nosso_numero"])
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    assert [e["after"]["nosso_numero"] for e in trail if e["action"] == "invoice.second_copy"] == [new["nosso_numero"]]
    assert not [e for e in trail if e["action"] == "boleto.cancel_failed"]
    world.drain_queues()
    [email] = [m for m in world.outbox() if "Segunda via" in m["Subject"]]
    assert email["To"] == org.master.user.email


def test_six_second_copies_of_one_invoice_at_once_register_one_boleto_at_the_bank(world, clock, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    org, invoice = billed(world, clock)
    old = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    clock.now = sp(2026, 12, 1, 10)
    calls = _bank_calls(world, monkeypatch)
    reading_together(monkeypatch, world.deps.invoices, "get_in_organization", 6)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master),
                                  range(6)))

    [made] = [r for r in responses if r.status_code == 201]
    losers = [r for r in responses if r is not made]
    # Most find the claim live; one that looks after the winner saved finds a newer invoice.
    assert all(r.status_code == 409 and r.json_body["error"]["code"] in ("second_copy_in_progress", "version_conflict")
               for r in losers) and len(losers) == 5
    _one_second_copy(world, org, invoice, old, made.json_body, calls)


def test_a_second_copy_claim_left_by_a_dead_request_expires_and_the_next_request_proceeds(world, clock, monkeypatch):
    from datetime import timedelta

    org, invoice = billed(world, clock)
    old = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    clock.now = sp(2026, 12, 1, 10)
    held = world.deps.invoices.get(invoice["id"])
    # A request claimed, then died (a Lambda timeout) before reaching the bank.
    world.deps.invoices.claim_second_copy(held.id, held.version, clock.now, clock.now + timedelta(minutes=2))
    calls = _bank_calls(world, monkeypatch)

    blocked = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert blocked.status_code == 409 and blocked.json_body["error"]["code"] == "second_copy_in_progress"
    assert calls == {"registered": [], "cancelled": []}

    clock.advance(minutes=3)
    response = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert response.status_code == 201, response.json_body
    _one_second_copy(world, org, invoice, old, response.json_body, calls)


def test_a_bank_outage_while_registering_a_second_copy_frees_the_claim_at_once(world, clock, monkeypatch):
    org, invoice = billed(world, clock)
    old = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    clock.now = sp(2026, 12, 1, 10)
    world.deps.bank.fail_next(1)
    calls = _bank_calls(world, monkeypatch)

    failed = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert failed.status_code == 503 and failed.json_body["error"]["code"] == "bank_unavailable"
    assert failed.headers["Retry-After"] == "60"
    assert _raw_invoice(invoice["id"]).second_copy_until is None  # released, not left to expire
    assert [b.nosso_numero for b in world.deps.invoices.get(invoice["id"]).boletos] == [old["nosso_numero"]]
    world.drain_queues()
    assert not [m for m in world.outbox() if "Segunda via" in m["Subject"]]
    again = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)  # no wait for an expiry
    assert again.status_code == 201, again.json_body
    calls["registered"] = calls["registered"][1:]  # the one the bank refused registered nothing
    _one_second_copy(world, org, invoice, old, again.json_body, calls)


def test_a_second_copy_that_cannot_be_saved_withdraws_its_boleto_from_the_bank_and_frees_the_claim(
        world, clock, monkeypatch):
    from chalicelib.domain import error_codes as codes

    org, invoice = billed(world, clock)
    old = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    clock.now = sp(2026, 12, 1, 10)
    calls = _bank_calls(world, monkeypatch)
    monkeypatch.setattr(world.deps.invoices, "save", failing_first(world.deps.invoices.save, 1,
                                                                   codes.VERSION_CONFLICT()))

    lost = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert lost.status_code == 409 and lost.json_body["error"]["code"] == "version_conflict"
    [orphan] = calls["registered"]
    assert calls["cancelled"] == [orphan] and not world.deps.bank.is_registered(orphan)  # never payable
    assert world.deps.bank.is_registered(old["nosso_numero"])
    assert [b.nosso_numero for b in world.deps.invoices.get(invoice["id"]).boletos] == [old["nosso_numero"]]

    calls.update(registered=[], cancelled=[])
    again = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)  # no wait for an expiry
    assert again.status_code == 201, again.json_body
    _one_second_copy(world, org, invoice, old, again.json_body, calls)
