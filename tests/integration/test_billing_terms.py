"""Terms and billing plans through real billing runs: Microsoft 365 E5 is sold for a year paid up
front (P1Y, annual), Microsoft 365 E3 for a year billed monthly (P1Y, monthly)."""
from datetime import date

import pytest

from chalicelib.domain.audit import SYSTEM
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.credits import CreditNote
from chalicelib.services import billing, renewals
from chalicelib.storage import keys
from chalicelib.storage.billing import _credit_item
from tests.support import body_text, sp

E5, E3 = 32870, 20710  # R$ 328,70 and R$ 207,10 per licence per month


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 9, 15))
    return world.deps.clock


def bill(world, clock, period, on):
    clock.now = on
    if not hasattr(world, "billing_operator"):
        world.billing_operator = world.operator()
    response = world.call("POST", "/backoffice/billing-runs", world.billing_operator, {"period": period})
    assert response.status_code == 202, response.json_body
    world.drain_queues()


def invoices(world, org):
    return {i["period_end"]: world.call("GET", f"/invoices/{i['id']}", org.master).json_body
            for i in world.call("GET", "/invoices", org.master).json_body["items"]}


def by_sku(invoice, sku):
    return [(l["description"], l["amount_cents"]) for l in invoice["lines"] if l["sku"] == sku]


def change_quantity(world, org, sku, quantity):
    [sub] = [s for s in world.call("GET", "/subscriptions", org.master).json_body["items"] if s["sku"] == sku]
    response = world.call("POST", f"/subscriptions/{sub['id']}/quantity", org.master, {"quantity": quantity})
    assert response.status_code == 202, response.json_body
    world.drain_queues()


def test_a_year_paid_up_front_is_billed_whole_then_nothing_monthly_an_addition_to_its_end_and_the_renewal_again(
        world, clock):
    org = world.active_organization(closing_day=20)
    world.subscription(org, "MS365-E5", 10)  # 15 Sep 2026: its term runs to 14 Sep 2027
    world.subscription(org, "MS365-E3", 2)
    panel = {s["sku"]: s for s in world.call("GET", "/subscriptions", org.master).json_body["items"]}
    assert (panel["MS365-E5"]["term"], panel["MS365-E5"]["billing_frequency"], panel["MS365-E5"]["plan_label"]) == \
        ("P1Y", "annual", "Anual · pagamento antecipado")
    assert panel["MS365-E3"]["plan_label"] == "Anual · cobrança mensal"

    bill(world, clock, "2026-09", sp(2026, 9, 21, 9))  # 21 Aug – 20 Sep 2026
    first = invoices(world, org)["2026-09-20"]
    # 10 × 328,70 × 12 = R$ 39.444,00 on the invoice of the period the term starts in
    assert by_sku(first, "MS365-E5") == [("Microsoft 365 E5 — 10 licenças, anual, 15/09/2026 a 14/09/2027", 3944400)]
    [e5_line] = [l for l in first["lines"] if l["sku"] == "MS365-E5"]
    assert {k: e5_line[k] for k in ("term", "billing_frequency", "term_start", "term_end", "months", "quantity",
                                    "unit_price_cents")} == {
        "term": "P1Y", "billing_frequency": "annual", "term_start": "2026-09-15", "term_end": "2027-09-14",
        "months": 12, "quantity": 10, "unit_price_cents": E5}
    # E3, the same year billed monthly: 2 × 207,10 × 6/31 (15–20 Sep), its line naming the term
    assert by_sku(first, "MS365-E3") == [("Microsoft 365 E3 — 2 licenças × 6/31 dias (anual, cobrança mensal)", 8017)]
    assert first["total_cents"] == 3944400 + 8017

    bill(world, clock, "2026-10", sp(2026, 10, 21, 9))
    october = invoices(world, org)["2026-10-20"]
    assert by_sku(october, "MS365-E5") == []  # paid up front: nothing on the monthly invoices
    assert by_sku(october, "MS365-E3") == [("Microsoft 365 E3 — 2 licenças × 30/30 dias (anual, cobrança mensal)",
                                            41420)]

    clock.now = sp(2027, 3, 15)
    [e5] = [s for s in world.call("GET", "/subscriptions", org.master).json_body["items"] if s["sku"] == "MS365-E5"]
    preview = world.call("GET", f"/subscriptions/{e5['id']}/quantity-preview?quantity=12", org.master).json_body
    # 2 × 328,70 × 12 × 184/365 (15 Mar – 14 Sep 2027) = R$ 3.976,82: what the invoice will charge
    assert (preview["applies"], preview["amount_cents"]) == ("now", 397682)
    assert [line["description"] for line in preview["lines"]] == [
        "Microsoft 365 E5 — +2 licenças × 184/365 dias, anual, 15/03/2027 a 14/09/2027"]
    # The customer has paid what it owes: an invoice unpaid for 30 days blocks increases (dunning).
    for invoice in invoices(world, org).values():
        world.call("POST", f"/backoffice/invoices/{invoice['id']}/payments", world.billing_operator,
                   {"amount_cents": invoice["balance_cents"], "paid_on": "2027-03-15", "method": "deposito"})
    change_quantity(world, org, "MS365-E5", 12)
    bill(world, clock, "2027-03", sp(2027, 3, 21, 9))  # 21 Feb – 20 Mar 2027
    march = invoices(world, org)["2027-03-20"]
    assert by_sku(march, "MS365-E5") == [
        ("Microsoft 365 E5 — +2 licenças × 184/365 dias, anual, 15/03/2027 a 14/09/2027", 397682)]

    bill(world, clock, "2027-04", sp(2027, 4, 21, 9))
    assert by_sku(invoices(world, org)["2027-04-20"], "MS365-E5") == []

    clock.now = sp(2027, 9, 15, 1)
    assert renewals.renew_due(world.deps, date(2027, 9, 15)) == 2  # E5 and E3 start their next terms
    bill(world, clock, "2027-09", sp(2027, 9, 21, 9))
    renewal = invoices(world, org)["2027-09-20"]
    # The renewal starts a new term, billed again whole for the 12 licences: 12 × 328,70 × 12
    assert by_sku(renewal, "MS365-E5") == [("Microsoft 365 E5 — 12 licenças, anual, 15/09/2027 a 14/09/2028", 4733280)]
    assert by_sku(renewal, "MS365-E3") == [("Microsoft 365 E3 — 2 licenças × 31/31 dias (anual, cobrança mensal)",
                                            41420)]


def test_seats_removed_inside_the_window_are_credited_and_a_credit_larger_than_the_invoice_is_carried(world, clock):
    org = world.active_organization(closing_day=20)
    world.subscription(org, "MS365-E5", 10)  # 15 Sep 2026, 12:00: seats removable until 22 Sep, 12:00
    bill(world, clock, "2026-09", sp(2026, 9, 21, 9))
    assert invoices(world, org)["2026-09-20"]["total_cents"] == 3944400

    clock.now = sp(2026, 9, 21, 10)
    change_quantity(world, org, "MS365-E5", 8)
    bill(world, clock, "2026-10", sp(2026, 10, 21, 9))
    credited = invoices(world, org)["2026-10-20"]
    # −2 × 328,70 × 12 × 359/365 (21 Sep 2026 – 14 Sep 2027) = −R$ 7.759,12: more than the invoice
    assert by_sku(credited, "MS365-E5") == [
        ("Microsoft 365 E5 — −2 licenças × 359/365 dias, anual, 21/09/2026 a 14/09/2027 (crédito)", -775912)]
    assert (credited["total_cents"], credited["status"], credited["balance_cents"]) == (0, "paid", 0)
    # The rest is moved to a credit note against this invoice, made by the system with it; a last
    # line says so, and the lines add up to the total.
    carried = ("Crédito transportado para as próximas faturas (nota de crédito): "
               "Crédito de licenças reduzidas no período", 775912)
    assert [(l["description"], l["amount_cents"]) for l in credited["lines"]][-1] == carried
    assert sum(l["amount_cents"] for l in credited["lines"]) == 0
    [note] = world.deps.invoices.credit_notes(credited["id"])
    assert (note.amount_cents, note.remaining_cents, note.created_by, note.reason) == \
        (775912, 775912, "system", "Crédito de licenças reduzidas no período")
    assert world.deps.invoices.get(credited["id"]).credited_cents == 0  # the operator's credits: none
    stored = world.deps.invoices.get(credited["id"])
    assert stored.boletos == ()  # nothing to pay: no boleto registered at the bank

    # The next invoice uses the credit: 40 × 207,10 for 21 Oct – 20 Nov = R$ 8.284,00 − 7.759,12
    world.subscription(org, "MS365-E3", 40, bought_at=sp(2026, 10, 21))
    bill(world, clock, "2026-11", sp(2026, 11, 21, 9))
    used = invoices(world, org)["2026-11-20"]
    note_line = (f"Crédito — nota de crédito sobre a fatura nº {credited['number']}: "
                 "Crédito de licenças reduzidas no período", -775912)
    assert [(l["description"], l["amount_cents"]) for l in used["lines"]][-1] == note_line
    assert sum(l["amount_cents"] for l in used["lines"]) == used["total_cents"] == 52488
    assert world.deps.invoices.credit_note(credited["id"], note.id).remaining_cents == 0
    assert world.deps.invoices.credits_left(org.id) == []

    # The emails (and PDFs) show the credit moved, so that their rows add up to the total.
    def email_of(invoice):
        [message] = [m for m in world.outbox() if m["Subject"].startswith(f"Fatura nº {invoice['number']} ")]
        return body_text(message)

    text = email_of(credited)
    assert "- Microsoft 365 E5 — −2 licenças × 359/365 dias, anual, 21/09/2026 a 14/09/2027 (crédito): -R$ 7.759,12" \
        in text
    assert f"- {carried[0]}: R$ 7.759,12" in text and "Total: R$ 0,00" in text
    text = email_of(used)
    assert f"- {note_line[0]}: -R$ 7.759,12" in text and "Total: R$ 524,88" in text

    # A rerun of either period changes nothing: the credit is used once.
    bill(world, clock, "2026-11", sp(2026, 11, 22, 9))
    bill(world, clock, "2026-10", sp(2026, 11, 22, 9))
    assert [i["total_cents"] for i in sorted(invoices(world, org).values(), key=lambda i: i["number"])] == \
        [3944400, 0, 52488]
    assert len(world.deps.invoices.credit_notes(credited["id"])) == 1  # made once
    assert world.deps.invoices.credits_left(org.id) == []


def test_products_are_written_only_with_a_plan_their_term_allows(world):
    world.seed_catalog()
    operator = world.operator()
    product = {"name": "Microsoft 365 E5 (3 anos)", "family": "Microsoft 365", "unit_price_cents": 30000,
               "term": "P1M", "billing_frequency": "annual"}
    refused = world.call("PUT", "/backoffice/catalog/products/MS365-E5-P3Y", operator, product)
    assert refused.status_code == 422
    assert refused.json_body["error"]["code"] == "invalid_billing_plan"
    assert refused.json_body["error"]["details"]["allowed"] == ["monthly"]
    assert world.deps.catalog.get("MS365-E5-P3Y") is None  # nothing written

    before = world.deps.catalog.get("MS365-E5")
    changed = {"name": "Microsoft 365 E5", "family": "Microsoft 365", "unit_price_cents": 32870, "term": "P1Y",
               "billing_frequency": "triennial"}
    assert world.call("PUT", "/backoffice/catalog/products/MS365-E5", operator, changed).status_code == 422
    assert world.deps.catalog.get("MS365-E5") == before

    accepted = world.call("PUT", "/backoffice/catalog/products/MS365-E5-P3Y", operator,
                          dict(product, term="P3Y", billing_frequency="triennial"))
    assert accepted.status_code == 200, accepted.json_body
    assert accepted.json_body["plan_label"] == "3 anos · pagamento antecipado"
    org = world.active_organization()
    listed = {p["sku"]: p for p in world.call("GET", "/catalog/products?q=E5", org.master).json_body["items"]}
    assert (listed["MS365-E5"]["billing_frequency"], listed["MS365-E5"]["plan_label"]) == \
        ("annual", "Anual · pagamento antecipado")
    assert listed["MS365-E5-P3Y"]["billing_frequency"] == "triennial"


def test_two_invoices_issued_at_once_use_a_credit_once(world, clock):
    import threading

    org = world.active_organization(closing_day=20)
    world.subscription(org, "MS365-E3", 10, bought_at=sp(2026, 9, 1))  # R$ 2.071,00 a month
    clock.now = sp(2026, 11, 25)
    # A credit of R$ 1.000,00 left by an earlier invoice, and two periods billed by two workers at once.
    _credit_item(CreditNote(
        id="reduced", organization_id=org.id, invoice_id="earlier", invoice_number=1, amount_cents=100000,
        reason="Crédito de licenças reduzidas no período", created_at="2026-09-21T12:00:00+00:00",
        created_by="system", remaining_cents=100000)).save()
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-10", closing_days=[])
    barrier = threading.Barrier(2)

    def work(closing):
        barrier.wait()
        billing.bill_contract(world.deps, {"run_id": run_id, "organization_id": org.id, "closing_date": closing})

    threads = [threading.Thread(target=work, args=(closing,)) for closing in ("2026-10-20", "2026-11-20")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    issued = [world.deps.invoices.invoice_for_period(org.id, date(2026, month, 20)) for month in (10, 11)]
    used = [sum(-l.amount_cents for l in i.lines if l.sku.startswith("CREDITO:")) for i in issued]
    assert sorted(used) == [0, 100000]  # one of them used it whole, the other none
    assert sum(i.total_cents for i in issued) == \
        sum(sum(l.amount_cents for l in i.lines if not l.sku.startswith("CREDITO:")) for i in issued) - 100000
    assert world.deps.invoices.credit_note("earlier", "reduced").remaining_cents == 0
    assert world.deps.invoices.credits_left(org.id) == []


def test_an_invoice_stored_before_lines_said_their_term_still_reads_and_answers_its_shape(world, clock):
    from chalicelib.storage.models import InvoiceItem

    org = world.active_organization()
    invoice = world.invoice(org)  # E3, billed monthly
    item = InvoiceItem.get(keys.invoice_pk(invoice.id), keys.INVOICE_SK)
    assert item.lines[0]["term"] == "P1Y"
    old_fields = ("description", "sku", "quantity", "days", "period_days", "unit_price_cents", "amount_cents",
                  "start", "end")
    item.lines = [{k: v for k, v in line.items() if k in old_fields} for line in item.lines]
    item.save()

    body = world.call("GET", f"/invoices/{invoice.id}", org.master).json_body  # held to the published shape
    assert [(l["term"], l["billing_frequency"], l["term_start"], l["months"]) for l in body["lines"]] == \
        [(None, None, None, None)]
    assert body["total_cents"] == invoice.total_cents
