"""The bank's payment webhook: boletos paid at the (simulated) bank, the notification it sends to
`POST /webhooks/bank/{token}`, and every effect — the payment recorded once, with the bank's amount
and day as its API confirms them, however often, however concurrently and by whichever path (webhook
or CNAB retorno) it arrives; and nothing read, asked or written for a caller without the secret."""
import json
from datetime import date, datetime, timezone

import pytest

from chalicelib.adapters.bank import REGISTERED, BankUnavailable, BoletoAtBank
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.users import RESELLER_ORGANIZATION_ID
from chalicelib.services import bank_webhooks
from tests.integration.test_cnab import issued_boletos, paid, retorno, state, upload
from tests.integration.test_billing import issued_invoice, run_overdue_job
from tests.integration.test_suspension import D45, mails, run_suspension_job, statuses
from tests.support import body_text, failing_first, in_parallel, reading_together, sp

TOKEN = "simulated-webhook-token"  # SimulatedBank's default, as BANK_PROVIDER=simulated has it


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


@pytest.fixture
def bank(world):
    return world.deps.bank


@pytest.fixture
def suspended(world, clock):
    """test_suspension's customer (E3 and E5 seats, its November invoice due 23 Nov 2026 unpaid),
    warned at D+40 and suspended at D+45: (org, operator, invoice)."""
    org, operator, invoice = issued_invoice(world, clock)
    world.subscription(org, "MS365-E5", 3)
    for day in (sp(2026, 11, 25, 9), sp(2027, 1, 2, 9)):
        clock.now = day
        run_overdue_job(world)
    clock.now = D45
    run_suspension_job(world)
    assert set(statuses(world, org).values()) == {"suspended"}
    return org, operator, invoice


def notify(world, body, token=TOKEN, content_type="application/json"):
    return world.call("POST", f"/webhooks/bank/{token}", None, body, headers={"Content-Type": content_type})


def counting(monkeypatch, owner, method):
    """`owner.method`, counted: the list of the arguments of each call."""
    calls, real = [], getattr(owner, method)

    def spy(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, method, spy)
    return calls


def reseller_trail(world):
    items, _ = world.deps.audit.list(RESELLER_ORGANIZATION_ID, since="2026-01-01T00:00:00+00:00",
                                     until=datetime(2030, 1, 1, tzinfo=timezone.utc).isoformat(), limit=100,
                                     next_token=None)
    return [e for e in items if e.action == "payments.bank_webhook"]


def current(world, org, invoice):
    return world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body


def test_a_boleto_paid_by_its_pix_settles_the_invoice_once_with_the_banks_amount_and_day(world, clock, bank):
    _, [(org, invoice, boleto)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 11, 20, 9)
    # On the boleto's Pix (the hybrid boleto's dynamic charge): the bank liquidates the boleto.
    amount = bank.pay(boleto["nosso_numero"], date(2026, 11, 19), channel="pix")
    mail_before = len(world.outbox())

    answer = notify(world, bank.webhook_body(boleto["nosso_numero"]))
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body == {"received": 1, "settled": 1, "already_recorded": 0, "ignored": 0,
                                "applied_cents": amount, "surplus_cents": 0}
    after = current(world, org, invoice)
    assert (after["status"], after["paid_cents"], after["balance_cents"]) == ("paid", invoice["total_cents"], 0)
    [payment] = after["payments"]
    assert (payment["amount_cents"], payment["paid_on"], payment["method"], payment["recorded_by"]) == (
        amount, "2026-11-19", "boleto", "banco")
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    [recorded] = [e for e in trail if e["action"] == "invoice.payment_recorded"]
    assert recorded["actor_id"] == "banco"
    assert recorded["after"]["source"] == {"webhook": boleto["bank_code"], "nosso_numero": boleto["nosso_numero"],
                                           "channel": "pix", "paid_cents": amount, "surplus_cents": 0}
    [entry] = reseller_trail(world)
    assert (entry.actor_id, entry.after["settled"], entry.after["bank_code"]) == ("banco", 1, boleto["bank_code"])
    assert len(world.outbox()) == mail_before  # a payment sends nothing by itself (no suspension here)

    # The bank notifies again (it retries until it reads a 200, or sends the day's baixas once more).
    before = state(world, [(org, invoice)])
    again = notify(world, bank.webhook_body(boleto["nosso_numero"]))
    assert again.status_code == 200
    assert (again.json_body["already_recorded"], again.json_body["settled"]) == (1, 0)
    assert state(world, [(org, invoice)]) == before and len(reseller_trail(world)) == 1


def test_two_notifications_at_once_record_one_payment(world, clock, bank, monkeypatch):
    _, [(org, invoice, boleto)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 11, 20, 9)
    bank.pay(boleto["nosso_numero"], date(2026, 11, 20))
    body = bank.webhook_body(boleto["nosso_numero"])
    # Both look for the payment before either records it: the race is certain.
    reading_together(monkeypatch, world.deps.invoices, "has_payment", 2)
    answers = in_parallel(2, lambda n: notify(world, body))
    assert [a.status_code for a in answers] == [200, 200]
    assert sorted((a.json_body["settled"], a.json_body["already_recorded"]) for a in answers) == [(0, 1), (1, 0)]
    after = current(world, org, invoice)
    assert (after["status"], len(after["payments"]), after["paid_cents"]) == ("paid", 1, invoice["total_cents"])
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    assert [e["action"] for e in trail].count("invoice.payment_recorded") == 1
    assert len(reseller_trail(world)) == 1


def test_a_payment_the_webhook_settled_is_already_recorded_in_the_return_file_and_the_other_way_round(
        world, clock, bank):
    operator, [(org1, inv1, b1), (org2, inv2, b2)] = issued_boletos(world, clock, 2)
    clock.now = sp(2026, 11, 25, 9)
    paid1 = bank.pay(b1["nosso_numero"], date(2026, 11, 23))
    paid2 = bank.pay(b2["nosso_numero"], date(2026, 11, 24))
    assert notify(world, bank.webhook_body(b1["nosso_numero"])).json_body["settled"] == 1
    before = state(world, [(org1, inv1)])

    # The next day's retorno carries both payments: the first is the webhook's, the second is new.
    report = upload(world, operator, retorno(b1["bank_code"], [paid(b1, paid1, date(2026, 11, 23)),
                                                               paid(b2, paid2, date(2026, 11, 24))])).json_body
    assert [(l["line"], l["outcome"]) for l in report["lines"]] == [(3, "already_recorded"), (5, "settled")]
    # The first invoice, its payments and its trail unchanged (the reseller's trail has the import).
    assert state(world, [(org1, inv1)])[0] == before[0]
    # ...and the webhook of the second, arriving after the file, records nothing more.
    before = state(world, [(org2, inv2)])
    late = notify(world, bank.webhook_body(b2["nosso_numero"]))
    assert (late.status_code, late.json_body["already_recorded"], late.json_body["settled"]) == (200, 1, 0)
    assert state(world, [(org2, inv2)]) == before
    for org, invoice in ((org1, inv1), (org2, inv2)):
        assert len(current(world, org, invoice)["payments"]) == 1


def test_a_late_payment_with_the_registered_fine_and_interest_settles_the_balance_and_reports_the_surplus(
        world, clock, bank):
    _, [(org, invoice, boleto)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 12, 3, 9)  # due 23 Nov: paid 9 days late, the bank charging what was registered
    total = invoice["total_cents"]
    charged = bank.pay(boleto["nosso_numero"], date(2026, 12, 2))
    assert charged == bank.amount_due(boleto["nosso_numero"], date(2026, 12, 2)) > total
    answer = notify(world, bank.webhook_body(boleto["nosso_numero"])).json_body
    assert (answer["settled"], answer["applied_cents"], answer["surplus_cents"]) == (1, total, charged - total)
    after = current(world, org, invoice)
    assert (after["status"], after["paid_cents"], [p["amount_cents"] for p in after["payments"]]) == (
        "paid", total, [total])
    trail = world.call("GET", "/audit", org.master).json_body["items"]
    [recorded] = [e for e in trail if e["action"] == "invoice.payment_recorded"]
    assert (recorded["after"]["source"]["paid_cents"], recorded["after"]["source"]["surplus_cents"]) == (
        charged, charged - total)
    [entry] = reseller_trail(world)
    assert entry.after["surplus_cents"] == charged - total


def test_a_payment_by_webhook_lifts_the_suspension_it_makes_unwarranted(world, clock, bank, suspended):
    org, operator, invoice = suspended
    # Past the first boleto's limit day: the customer pays a second copy, and the bank notifies it.
    second = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert second.status_code == 201, second.json_body
    nosso_numero = second.json_body["nosso_numero"]
    bank.pay(nosso_numero, date(2027, 1, 7))
    answer = notify(world, bank.webhook_body(nosso_numero))
    assert answer.json_body["settled"] == 1, answer.json_body
    world.drain_queues()
    assert current(world, org, invoice)["status"] == "paid"
    assert statuses(world, org) == {"MS365-E3": "active", "MS365-E5": "active"}
    assert len(mails(world, "reativadas")) == 1
    trail = [e["action"] for e in world.call("GET", "/audit", org.master).json_body["items"]]
    assert trail.count("suspension.lifted") == 1 and trail.count("invoice.payment_recorded") == 1


def test_the_bank_down_answers_503_and_the_next_notification_settles_once(world, clock, bank, monkeypatch):
    _, [(org1, inv1, b1), (org2, inv2, b2)] = issued_boletos(world, clock, 2)
    clock.now = sp(2026, 11, 20, 9)
    for boleto in (b1, b2):
        bank.pay(boleto["nosso_numero"], date(2026, 11, 20))
    body = bank.webhook_body(b1["nosso_numero"], b2["nosso_numero"])
    # The bank answers the first query, then its API goes down for the second.
    real = bank.query
    failing_query = failing_first(real, 1, BankUnavailable("timeout"))
    monkeypatch.setattr(bank, "query", lambda nn: (failing_query if nn == b2["nosso_numero"] else real)(nn))

    down = notify(world, body)
    assert down.status_code == 503, down.json_body
    assert down.json_body["error"]["code"] == "bank_webhook_retry"
    assert down.headers["Retry-After"] == "60"
    assert len(current(world, org1, inv1)["payments"]) == 1  # recorded before the outage: it stays
    assert (current(world, org2, inv2)["status"], current(world, org2, inv2)["payments"]) == ("open", [])

    again = notify(world, body)  # the bank notifies again later
    assert again.status_code == 200, again.json_body
    assert (again.json_body["already_recorded"], again.json_body["settled"]) == (1, 1)
    for org, invoice in ((org1, inv1), (org2, inv2)):
        after = current(world, org, invoice)
        assert (after["status"], len(after["payments"])) == ("paid", 1)


def test_what_the_bank_does_not_confirm_paid_writes_nothing(world, clock, bank, monkeypatch):
    operator, [(org1, inv1, b1), (org2, inv2, b2)] = issued_boletos(world, clock, 2)
    clock.now = sp(2026, 11, 20, 9)
    real = bank.query
    # The bank's API says the first is still only registered, even with an amount and a day in its
    # answer (a partial or pending liquidation): only state PAID is believed.
    monkeypatch.setattr(bank, "query", lambda nn: BoletoAtBank(
        nosso_numero=nn, state=REGISTERED, amount_cents=inv1["total_cents"], paid_cents=inv1["total_cents"],
        paid_on=date(2026, 11, 20), channel="pix") if nn == b1["nosso_numero"] else real(nn))
    queries = counting(monkeypatch, bank, "query")
    before = state(world, [(org1, inv1), (org2, inv2)])
    # A body that says "paid" is not believed; the second is not paid at the bank; the third is no boleto of ours.
    body = json.loads(bank.webhook_body(b1["nosso_numero"], b2["nosso_numero"]))
    body[0].update(codigoEstadoBaixaOperacional=1, valorPagoSacado=body[0]["valorOriginal"], dataLiquidacao="20.11.2026")
    body.append({"id": "000" + "99999999999999999", "valorPagoSacado": 10.0})
    answer = notify(world, json.dumps(body))
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body == {"received": 3, "settled": 0, "already_recorded": 0, "ignored": 3,
                                "applied_cents": 0, "surplus_cents": 0}
    assert [args[0] for args in queries] == [b1["nosso_numero"], b2["nosso_numero"]]  # never the stranger
    assert state(world, [(org1, inv1), (org2, inv2)]) == before and reseller_trail(world) == []


def test_a_body_claiming_more_than_the_bank_confirms_records_the_banks_amount(world, clock, bank):
    _, [(org, invoice, boleto)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 11, 20, 9)
    half = invoice["total_cents"] // 2
    assert bank.pay(boleto["nosso_numero"], date(2026, 11, 19), amount_cents=half) == half
    body = json.loads(bank.webhook_body(boleto["nosso_numero"]))
    body[0].update(valorPagoSacado=body[0]["valorOriginal"] * 3)
    answer = notify(world, json.dumps(body))
    assert answer.status_code == 200 and answer.json_body["applied_cents"] == half, answer.json_body
    after = current(world, org, invoice)
    assert (after["paid_cents"], [p["amount_cents"] for p in after["payments"]]) == (half, [half])


def test_money_the_bank_received_for_an_invoice_already_paid_is_audited_and_the_operators_told_once(
        world, clock, bank):
    operator, [(org, invoice, boleto)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 11, 20, 9)
    # Paid by deposit, then (the customer paid twice) at the bank: the money is to refund, not to book.
    assert world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", operator,
                      {"amount_cents": invoice["total_cents"], "paid_on": "2026-11-19",
                       "method": "deposito"}).status_code == 201
    amount = bank.pay(boleto["nosso_numero"], date(2026, 11, 20))
    world.drain_queues()
    sent_before = len(world.outbox())
    def booked():  # the invoice as recorded (not its download link, signed anew at each read)
        return {k: v for k, v in current(world, org, invoice).items() if k != "pdf_url"}
    paid_before = booked()
    answer = notify(world, bank.webhook_body(boleto["nosso_numero"]))
    assert answer.status_code == 200 and answer.json_body["ignored"] == 1, answer.json_body
    assert booked() == paid_before  # nothing booked on the invoice
    [entry] = unapplied_trail(world)
    assert (entry.actor_id, entry.target) == ("banco", f"invoice:{invoice['id']}")
    assert (entry.after["nosso_numero"], entry.after["paid_cents"], entry.after["paid_on"],
            entry.after["invoice_status"]) == (boleto["nosso_numero"], amount, "2026-11-20", "paid")
    world.drain_queues()
    [told] = [m for m in world.outbox()[sent_before:] if "estornar ou creditar" in m["Subject"]]
    assert told["To"] == world.deps.settings.operators_email
    assert boleto["nosso_numero"] in body_text(told) and "paga" in body_text(told)
    assert len(world.outbox()) == sent_before + 1
    # Notified again, and in the next day's return file: audited each time, told once.
    assert notify(world, bank.webhook_body(boleto["nosso_numero"])).status_code == 200
    report = upload(world, operator, retorno(boleto["bank_code"], [paid(boleto, amount, date(2026, 11, 20))]))
    assert [l["outcome"] for l in report.json_body["lines"]] == ["not_payable"]
    world.drain_queues()
    assert len(world.outbox()) == sent_before + 1 and len(unapplied_trail(world)) == 3
    assert booked() == paid_before


def unapplied_trail(world):
    items, _ = world.deps.audit.list(RESELLER_ORGANIZATION_ID, since="2026-01-01T00:00:00+00:00",
                                     until=datetime(2030, 1, 1, tzinfo=timezone.utc).isoformat(), limit=100,
                                     next_token=None)
    return [e for e in items if e.action == "payment.unapplied"]


def test_a_wrong_or_missing_token_is_404_and_nothing_is_read_asked_or_written(world, clock, bank, monkeypatch):
    _, [(org, invoice, boleto)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 11, 20, 9)
    bank.pay(boleto["nosso_numero"], date(2026, 11, 20))
    body = bank.webhook_body(boleto["nosso_numero"])
    spies = {"query": counting(monkeypatch, bank, "query"),
             "notified_boletos": counting(monkeypatch, bank, "notified_boletos"),
             "invoice_of_boleto": counting(monkeypatch, world.deps.invoices, "invoice_of_boleto")}
    before = state(world, [(org, invoice)])

    for token, content, content_type in [
            ("wrong-token-of-the-same-size", body, "application/json"),
            (TOKEN[:-1] + "X", body, "application/json"),  # one character off
            (TOKEN[:-1], body, "application/json"),  # a prefix
            (TOKEN + "0", body, "application/json"),
            ("%20", body, "application/json"),
            ("%C3%A9t%C3%A9%F0%9F%92%A5", body, "application/json"),  # not ASCII
            ("wrong", b"x" * (bank_webhooks.MAX_BODY_BYTES + 1), "application/json"),  # not 413: 404 first
            ("wrong", b"not json", "text/plain")]:  # not 415 either
        answer = notify(world, content, token=token, content_type=content_type)
        assert answer.status_code == 404, (token, answer.status_code, answer.json_body)
        assert answer.json_body["error"]["code"] == "not_found"
    # No token at all: no route (API Gateway's own answer), nothing of ours runs. (Locally the path
    # matches the customers' GET/DELETE /webhooks/{webhook_id} (issue #21 §3): POST there is 405.)
    bare = world.client.http.request("POST", "/webhooks/bank", headers={"Content-Type": "application/json"},
                                     body=body)
    assert bare.status_code in (403, 404, 405)
    # A bank secret without a usable token (empty, or too short to be a secret): the webhook is closed.
    monkeypatch.setattr(bank, "webhook_token", lambda: "short")
    assert notify(world, body, token="short").status_code == 404
    monkeypatch.setattr(bank, "webhook_token", lambda: "")
    assert notify(world, body, token="%20").status_code == 404

    assert {name: len(calls) for name, calls in spies.items()} == {
        "query": 0, "notified_boletos": 0, "invoice_of_boleto": 0}
    assert state(world, [(org, invoice)]) == before and reseller_trail(world) == []


def test_a_body_not_in_the_banks_format_is_refused_and_nothing_is_asked_or_written(world, clock, bank, monkeypatch):
    _, [(org, invoice, boleto)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 11, 20, 9)
    bank.pay(boleto["nosso_numero"], date(2026, 11, 20))
    queries = counting(monkeypatch, bank, "query")
    before = state(world, [(org, invoice)])

    def refused(content, status, code, content_type="application/json"):
        answer = notify(world, content, content_type=content_type)
        assert answer.status_code == status, (content[:50], answer.status_code, answer.json_body)
        assert answer.json_body["error"]["code"] == code
        return answer

    refused(b"", 400, "bank_webhook_unreadable")
    refused(b"not json at all", 400, "bank_webhook_unreadable")
    refused(b"\xff\xfe\x00garbage", 400, "bank_webhook_unreadable")
    refused(json.dumps({"evento": "pagamento"}), 400, "bank_webhook_unreadable")
    refused(json.dumps([{"id": "abc"}, {"id": None}, "123", 7]), 400, "bank_webhook_unreadable")
    refused(json.dumps([[[[[]]]]] * 10), 400, "bank_webhook_unreadable")
    many = [{"id": f"000{10_000_000_000_000_000 + n}"} for n in range(bank_webhooks.MAX_BOLETOS + 1)]
    too_many = refused(json.dumps(many), 413, "bank_webhook_too_many_boletos")
    assert too_many.json_body["error"]["details"]["max_boletos"] == bank_webhooks.MAX_BOLETOS
    refused(b"[" + b" " * bank_webhooks.MAX_BODY_BYTES + b"]", 413, "payload_too_large")
    refused(bank.webhook_body(boleto["nosso_numero"]), 415, "unsupported_file_type", "text/plain")

    assert queries == []
    assert state(world, [(org, invoice)]) == before and reseller_trail(world) == []
