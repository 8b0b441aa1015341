"""A DPS the NFS-e emitter refuses (E-codes): the invoice still goes out with its boleto and PDF,
the refusal is recorded on it and shown to the operators (never the codes to the customer), and
an operator re-emits the note once the data is fixed."""
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.domain.clock import FixedClock
from chalicelib.domain.nfse import Rejection
from tests.support import body_text, reading_together, sp

REJECTIONS = (
    Rejection("E0116", "CEP do tomador inválido", "toma/end/endNac/CEP"),
    Rejection("E0312", "Código de tributação nacional inexistente", None),
)


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


@pytest.fixture
def operator(world):
    return world.operator()


def _billed(world, clock, operator, payment_method="boleto"):
    """An organisation billed at its 10 Nov closing, the emitter refusing the DPS with two codes."""
    org = world.organization(closing_day=10)
    world.seed_catalog()
    if payment_method != "boleto":
        changed = world.call("PATCH", f"/backoffice/organizations/{org.id}/contract", operator,
                             {"payment_method": payment_method})
        assert changed.status_code == 200, changed.json_body
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    clock.now = sp(2026, 11, 11, 9)
    world.deps.nfse_emitter.reject_next(REJECTIONS)
    world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"})
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    return org, invoice


def _attachments(message):
    return {part.get_filename(): part.get_content() for part in message.iter_attachments()}


def _refusal_emails(world):
    return [m for m in world.outbox() if m["Subject"].startswith("NFS-e recusada")]


def _trail(world, org, action):
    return [e for e in world.call("GET", "/audit", org.master).json_body["items"] if e["action"] == action]


def _reemit(world, operator, invoice_id, key="k1"):
    return world.call("POST", f"/backoffice/invoices/{invoice_id}/nfse", operator,
                      headers={"Idempotency-Key": key})


def test_a_refused_nfse_leaves_the_invoice_issued_with_its_boleto_and_tells_the_operators_once(
        world, clock, operator):
    org, invoice = _billed(world, clock, operator)

    stored = world.deps.invoices.get(invoice["id"])
    assert stored.nfse is None and stored.active_boleto is not None
    # Its PDF is handed out without the note (rendered on its first download, issue #22).
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["pdf_url"] is not None
    assert [(r.code, r.message) for r in stored.nfse_failure.rejections] == [(r.code, r.message) for r in REJECTIONS]
    assert stored.nfse_failure.attempts == 1 and stored.nfse_failure.failed_at.startswith("2026-11-11")
    # The customer's email: the boleto, no nota; it says the nota follows.
    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    assert set(_attachments(email)) == {f"boleto-fatura-{invoice['number']}.pdf"}
    assert "segue em breve" in body_text(email) and "E0116" not in body_text(email)
    # The operators: one email naming each code and message, and what to do.
    [told] = _refusal_emails(world)
    assert told["To"] == world.deps.settings.operators_email
    text = body_text(told)
    assert all(f"{r.code}: {r.message}" in text for r in REJECTIONS) and "toma/end/endNac/CEP" in text
    assert f"/backoffice/invoices/{invoice['id']}/nfse" in text and org.organization.name in text
    [entry] = _trail(world, org, "nfse.rejected")
    assert entry["after"] == {"attempts": 1}  # the codes are not in the customer's own trail

    # A retry of the worker's message does not send the refused DPS again, nor tell the operators twice.
    from chalicelib.services import documents
    sent_before = world.deps.nfse_emitter._next
    documents.prepare(world.deps, world.deps.invoices.get(invoice["id"]))
    world.drain_queues()
    assert world.deps.nfse_emitter._next == sent_before and len(_refusal_emails(world)) == 1


def test_the_customer_reads_the_nota_as_in_processing_and_never_the_codes(world, clock, operator):
    org, invoice = _billed(world, clock, operator)

    view = world.call("GET", f"/invoices/{invoice['id']}", org.master)
    assert view.status_code == 200 and view.json_body["nfse_status"] == "pending"
    assert "E0116" not in str(view.json_body) and "nfse_failure" not in view.json_body
    assert world.call("GET", f"/invoices/{invoice['id']}/nfse", org.master).status_code == 404


def test_the_back_office_shows_the_refusal_on_the_invoice_and_in_the_receivables(world, clock, operator):
    org, invoice = _billed(world, clock, operator)

    detail = world.call("GET", f"/backoffice/invoices/{invoice['id']}", operator)
    assert detail.status_code == 200
    assert detail.json_body["nfse_status"] == "rejected" and detail.json_body["nfse"] is None
    failure = detail.json_body["nfse_failure"]
    assert failure["attempts"] == 1 and [r["code"] for r in failure["rejections"]] == ["E0116", "E0312"]
    assert failure["rejections"][0] == {"code": "E0116", "message": "CEP do tomador inválido",
                                        "detail": "toma/end/endNac/CEP"}
    [item] = world.call("GET", f"/backoffice/invoices?organization_id={org.id}", operator).json_body["items"]
    assert item["nfse_status"] == "rejected" and item["nfse_failure"] == failure
    # Back office only.
    assert world.call("GET", f"/backoffice/invoices/{invoice['id']}", org.master).status_code == 403


def test_the_operator_re_emits_the_note_and_it_reaches_the_billing_contacts(world, clock, operator):
    org, invoice = _billed(world, clock, operator)
    clock.now = sp(2026, 11, 12, 10)

    response = _reemit(world, operator, invoice["id"])

    assert response.status_code == 200, response.json_body
    body = response.json_body
    assert body["nfse_status"] == "issued" and body["nfse_failure"] is None and body["nfse"]["number"] == "1"
    stored = world.deps.invoices.get(invoice["id"])
    assert stored.nfse.number == "1" and stored.nfse_failure is None
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["nfse_status"] == "issued"
    assert world.call("GET", f"/invoices/{invoice['id']}/nfse", org.master).status_code == 200
    [entry] = _trail(world, org, "nfse.issued")
    assert entry["after"]["number"] == "1" and entry["before"] == {"refused_attempts": 1}
    assert entry["actor_id"] == operator.user.id
    world.drain_queues()
    [email] = [m for m in world.outbox() if m["Subject"].startswith("Nota fiscal nº 1")]
    assert email["To"] == ", ".join(org.contract.billing_contacts)
    files = _attachments(email)
    assert set(files) == {"nfse-1.pdf", "nfse-1.xml"} and files["nfse-1.pdf"].startswith(b"%PDF")
    assert b"<nNFSe>1</nNFSe>" in files["nfse-1.xml"]
    # The same request repeated answers the same; a new one finds the note.
    assert _reemit(world, operator, invoice["id"]).json_body == body
    again = _reemit(world, operator, invoice["id"], key="k2")
    assert again.status_code == 409 and again.json_body["error"]["code"] == "nfse_already_issued"
    assert len(world.deps.nfse_emitter._issued) == 1


def test_a_second_refusal_answers_422_with_the_codes_and_counts_the_attempt(world, clock, operator):
    org, invoice = _billed(world, clock, operator)
    world.drain_queues()
    again = (Rejection("E0116", "CEP do tomador inválido", None),)
    world.deps.nfse_emitter.reject_next(again)

    response = _reemit(world, operator, invoice["id"])

    assert response.status_code == 422
    error = response.json_body["error"]
    assert error["code"] == "nfse_rejected" and "E0116: CEP do tomador inválido" in error["message"]
    assert error["details"]["rejections"] == [{"code": "E0116", "message": "CEP do tomador inválido", "detail": None}]
    stored = world.deps.invoices.get(invoice["id"])
    assert stored.nfse is None and stored.nfse_failure.attempts == 2
    assert [r.code for r in stored.nfse_failure.rejections] == ["E0116"]
    assert [e["after"]["attempts"] for e in _trail(world, org, "nfse.rejected")] == [2, 1]
    world.drain_queues()
    assert len(_refusal_emails(world)) == 2 and "2ª recusa" in body_text(_refusal_emails(world)[1])
    # Not claimed any more: the next try emits.
    assert _reemit(world, operator, invoice["id"], key="k2").status_code == 200


def test_an_outage_during_the_re_emission_answers_503_and_records_nothing(world, clock, operator):
    org, invoice = _billed(world, clock, operator)
    before = world.deps.invoices.get(invoice["id"])
    world.drain_queues()
    emails = len(world.outbox())
    world.deps.nfse_emitter.fail_next_emit(1)

    response = _reemit(world, operator, invoice["id"])

    assert response.status_code == 503 and response.json_body["error"]["code"] == "nfse_emitter_unavailable"
    after = world.deps.invoices.get(invoice["id"])
    assert after.nfse is None and after.nfse_failure == before.nfse_failure
    assert not _trail(world, org, "nfse.issued")
    world.drain_queues()
    assert len(world.outbox()) == emails
    # The claim was released: the operator may try again at once.
    assert _reemit(world, operator, invoice["id"], key="k2").status_code == 200


def test_two_operators_re_emitting_at_once_emit_one_note(world, clock, operator, monkeypatch):
    org, invoice = _billed(world, clock, operator)
    other = world.operator()
    calls = []
    real_emit = world.deps.nfse_emitter.emit
    monkeypatch.setattr(world.deps.nfse_emitter, "emit",
                        lambda dps_id, signed_dps: calls.append(dps_id) or real_emit(dps_id, signed_dps))
    reading_together(monkeypatch, world.deps.invoices, "get", 2)

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(lambda account: _reemit(world, account, invoice["id"]), [operator, other]))

    assert sorted(r.status_code for r in responses) == [200, 409]
    [lost] = [r for r in responses if r.status_code == 409]
    assert lost.json_body["error"]["code"] in ("nfse_emission_in_progress", "version_conflict")
    assert len(calls) == 1 and len(_trail(world, org, "nfse.issued")) == 1
    world.drain_queues()
    assert len([m for m in world.outbox() if m["Subject"].startswith("Nota fiscal nº")]) == 1


def test_a_customer_cannot_re_emit_a_note(world, clock, operator):
    org, invoice = _billed(world, clock, operator)

    response = _reemit(world, org.master, invoice["id"])

    assert response.status_code == 403
    assert world.deps.invoices.get(invoice["id"]).nfse is None and not _trail(world, org, "nfse.issued")


def _never_answered(world, clock, operator):
    """An invoice whose documents step never finished: the emitter was down for every retry of the
    worker, until the queue gave up (no PDF, boleto nor email recorded)."""
    org = world.organization(closing_day=10)
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    clock.now = sp(2026, 11, 11, 9)
    world.deps.nfse_emitter.fail_next_emit(100)  # down for every retry of the worker
    world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"})
    world.drain_queues()
    [stored] = world.deps.invoices.of_organization_due_between(org.id, ("open",), None, None)
    assert stored.nfse is None and stored.nfse_failure is None and stored.email_queued_at is None
    assert not [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    assert world.call("GET", f"/backoffice/invoices/{stored.id}", operator).json_body["nfse_status"] == "pending"
    world.deps.nfse_emitter.fail_next_emit(0)
    return org, stored


def test_an_invoice_the_emitter_never_answered_for_gets_all_its_documents_in_one_email(world, clock, operator):
    org, stored = _never_answered(world, clock, operator)

    response = _reemit(world, operator, stored.id)

    assert response.status_code == 200, response.json_body
    assert response.json_body["nfse_status"] == "issued" and response.json_body["nfse"]["number"] == "1"
    done = world.deps.invoices.get(stored.id)
    assert done.nfse.number == "1" and done.pdf_key is not None and done.active_boleto is not None
    assert done.email_queued_at is not None
    world.drain_queues()
    # One email: the invoice's, with the boleto and the note; the note is not sent on its own too.
    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    assert set(_attachments(email)) == {f"boleto-fatura-{stored.number}.pdf", "nfse-1.pdf", "nfse-1.xml"}
    assert "segue em breve" not in body_text(email)
    assert not [m for m in world.outbox() if m["Subject"].startswith("Nota fiscal nº")]
    # A late retry of the worker's message finds everything done: nothing sent, nothing emitted.
    from chalicelib.services import documents
    emails = len(world.outbox())
    documents.prepare(world.deps, world.deps.invoices.get(stored.id))
    world.drain_queues()
    assert len(world.outbox()) == emails and len(world.deps.nfse_emitter._issued) == 1
    assert _reemit(world, operator, stored.id, key="k2").json_body["error"]["code"] == "nfse_already_issued"


def test_an_invoice_the_emitter_never_answered_for_refused_now_goes_out_with_its_boleto_and_answers_422(
        world, clock, operator):
    org, stored = _never_answered(world, clock, operator)
    world.deps.nfse_emitter.reject_next(REJECTIONS)

    response = _reemit(world, operator, stored.id)

    assert response.status_code == 422 and response.json_body["error"]["code"] == "nfse_rejected"
    assert "E0116: CEP do tomador inválido" in response.json_body["error"]["message"]
    done = world.deps.invoices.get(stored.id)
    assert done.nfse is None and done.nfse_failure.attempts == 1 and done.active_boleto is not None
    assert done.email_queued_at is not None
    world.drain_queues()
    [email] = [m for m in world.outbox() if "Fatura nº" in m["Subject"]]
    assert set(_attachments(email)) == {f"boleto-fatura-{stored.number}.pdf"} and "segue em breve" in body_text(email)
    [told] = _refusal_emails(world)
    assert "enviada ao cliente com o boleto" in body_text(told)
    # Not claimed any more: once fixed, the next re-emission emits the note, sent on its own.
    assert _reemit(world, operator, stored.id, key="k2").status_code == 200
    world.drain_queues()
    assert len([m for m in world.outbox() if m["Subject"].startswith("Nota fiscal nº 1")]) == 1


def test_a_write_between_the_emitters_answer_and_the_save_still_records_the_note_once(
        world, clock, operator, monkeypatch):
    org, invoice = _billed(world, clock, operator)
    world.drain_queues()
    clock.now = sp(2026, 11, 12, 10)
    real_emit = world.deps.nfse_emitter.emit

    def emit_then_a_payment(dps_id, signed_dps):
        issued = real_emit(dps_id, signed_dps)
        paid = world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", operator,
                          {"amount_cents": 1000, "paid_on": "2026-11-12", "method": "boleto"})
        assert paid.status_code == 201, paid.json_body
        return issued

    monkeypatch.setattr(world.deps.nfse_emitter, "emit", emit_then_a_payment)

    response = _reemit(world, operator, invoice["id"])

    assert response.status_code == 200, response.json_body
    assert response.json_body["nfse_status"] == "issued" and response.json_body["paid_cents"] == 1000
    stored = world.deps.invoices.get(invoice["id"])
    assert stored.nfse.number == "1" and stored.nfse_failure is None and stored.paid_cents == 1000
    assert len(_trail(world, org, "nfse.issued")) == 1 and len(world.deps.nfse_emitter._issued) == 1
    assert world.call("GET", "/backoffice/invoices?nfse=rejected", operator).json_body["items"] == []
    world.drain_queues()
    assert len([m for m in world.outbox() if m["Subject"].startswith("Nota fiscal nº 1")]) == 1


def test_a_note_someone_else_recorded_meanwhile_is_neither_recorded_nor_emailed_again(
        world, clock, operator, monkeypatch):
    org, invoice = _billed(world, clock, operator)
    world.drain_queues()
    real_emit = world.deps.nfse_emitter.emit
    from dataclasses import replace

    from chalicelib.services import documents
    recorded = {}

    def emit_and_recorded_elsewhere(dps_id, signed_dps):
        issued = real_emit(dps_id, signed_dps)
        # Another writer stored the note for this DPS (the emitter answers the same note) meanwhile.
        fresh = world.deps.invoices.get(invoice["id"])
        monkeypatch.setattr(world.deps.nfse_emitter, "emit", real_emit)
        recorded["nfse"] = documents.emit_nfse(world.deps, fresh)
        world.deps.invoices.save(replace(fresh, nfse=recorded["nfse"], nfse_failure=None, version=fresh.version + 1),
                                 expected_version=fresh.version, nfse_rejected=False)
        return issued

    monkeypatch.setattr(world.deps.nfse_emitter, "emit", emit_and_recorded_elsewhere)

    response = _reemit(world, operator, invoice["id"])

    assert response.status_code == 200, response.json_body
    assert response.json_body["nfse"]["number"] == recorded["nfse"].number == "1"
    assert not _trail(world, org, "nfse.issued") and len(world.deps.nfse_emitter._issued) == 1
    world.drain_queues()
    assert not [m for m in world.outbox() if m["Subject"].startswith("Nota fiscal nº")]


def test_the_operators_email_says_what_went_to_the_customer(world, clock, operator):
    org, invoice = _billed(world, clock, operator, payment_method="deposito")
    world.drain_queues()
    [first] = _refusal_emails(world)
    assert "enviada ao cliente com os dados para depósito" in body_text(first)
    assert "boleto" not in body_text(first)
    world.deps.nfse_emitter.reject_next(REJECTIONS)

    assert _reemit(world, operator, invoice["id"]).status_code == 422

    world.drain_queues()
    second = _refusal_emails(world)[1]
    text = body_text(second)
    assert "já havia sido enviada ao cliente" in text and "boleto" not in text and "depósito" not in text


def test_the_receivables_filter_lists_the_invoices_whose_note_stands_refused(world, clock, operator):
    org, invoice = _billed(world, clock, operator)
    fine = world.organization(closing_day=10)
    world.accept_contract(fine)
    world.subscription(fine, "MS365-E3", 3, bought_at=sp(2026, 10, 1))
    world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"})
    world.drain_queues()
    assert len(world.call("GET", "/backoffice/invoices", operator).json_body["items"]) == 2

    refused = world.call("GET", "/backoffice/invoices?nfse=rejected", operator)

    assert refused.status_code == 200
    assert [i["id"] for i in refused.json_body["items"]] == [invoice["id"]]
    assert refused.json_body["totals"]["count"] == 1
    assert world.call("GET", "/backoffice/invoices?nfse=rejected&status=paid", operator).json_body["items"] == []
    bad = world.call("GET", "/backoffice/invoices?nfse=issued", operator)
    assert bad.status_code == 400 and bad.json_body["error"]["code"] == "invalid_nfse_filter"
    # Re-emitted: it leaves the list.
    assert _reemit(world, operator, invoice["id"]).status_code == 200
    assert world.call("GET", "/backoffice/invoices?nfse=rejected", operator).json_body["items"] == []


def test_the_refused_notes_list_pages_with_a_token(world, clock, operator):
    orgs = []
    for _ in range(3):
        org = world.organization(closing_day=10)
        world.accept_contract(org)
        world.subscription(org, "MS365-E3", 2)
        orgs.append(org)
    clock.now = sp(2026, 11, 11, 9)
    world.deps.nfse_emitter.reject_next(REJECTIONS, count=3)
    world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"})
    world.drain_queues()

    first = world.call("GET", "/backoffice/invoices?nfse=rejected&limit=2", operator).json_body
    second = world.call("GET", f"/backoffice/invoices?nfse=rejected&limit=2&next_token={first['next_token']}",
                        operator).json_body

    ids = [i["id"] for i in first["items"] + second["items"]]
    assert len(ids) == 3 == len(set(ids)) and second["next_token"] is None and second["totals"] is None
    assert {i["organization_id"] for i in first["items"] + second["items"]} == {o.id for o in orgs}


def test_a_refused_invoice_cancelled_leaves_the_list_and_takes_no_note(world, clock, operator):
    org, invoice = _billed(world, clock, operator)

    cancelled = world.call("POST", f"/backoffice/invoices/{invoice['id']}/cancel", operator,
                           {"reason": "Cliente com CNPJ errado"}, headers={"Idempotency-Key": "c1"})

    assert cancelled.status_code == 200, cancelled.json_body
    assert world.call("GET", f"/backoffice/invoices/{invoice['id']}", operator).json_body["nfse_status"] == \
        "not_issued"
    assert world.call("GET", "/backoffice/invoices?nfse=rejected", operator).json_body["items"] == []
    from chalicelib.storage import keys
    from chalicelib.storage.models import NfseRejectedItem
    assert list(NfseRejectedItem.query(keys.NFSE_REJECTED_PK)) == []  # dropped as it was read
    refused = _reemit(world, operator, invoice["id"])
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "nfse_invoice_cancelled"
    assert world.deps.nfse_emitter._issued == {}
