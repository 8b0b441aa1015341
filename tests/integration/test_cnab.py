"""Bank return files (CNAB 240): boletos issued by the billing run, paid at the bank, settled by
the file the bank sends back — once, however often or however concurrently it is imported."""
import os
from datetime import date, datetime, timedelta, timezone

import pytest

from chalicelib.domain import cnab240
from chalicelib.domain.users import RESELLER_ORGANIZATION_ID
from chalicelib.services import bank_returns
from tests.integration.test_billing import active_org, start_run
from tests.support import in_parallel, reading_together, sp

CNAB = "/backoffice/payments/cnab"


@pytest.fixture
def clock(world):
    from chalicelib.domain.clock import FixedClock

    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def issued_boletos(world, clock, count):
    """`count` organisations billed for November on the 11th, each invoice with its boleto:
    (operator, [(org, invoice as the customer reads it, its boleto)])."""
    orgs = [active_org(world, MS365_E3=n + 1) for n in range(count)]
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    start_run(world, operator, "2026-11")
    world.drain_queues()
    issued = []
    for org in orgs:
        [summary] = world.call("GET", "/invoices", org.master).json_body["items"]
        boleto = world.call("GET", f"/invoices/{summary['id']}/boleto", org.master).json_body
        issued.append((org, summary, boleto))
    return operator, issued


def as_the_bank_writes(boleto) -> str:
    """The nosso número as a return file carries it: digits, left-aligned in positions 38–57."""
    return "".join(ch for ch in boleto["nosso_numero"] if ch.isdigit())


def paid(boleto, amount_cents, day, **extra):
    return cnab240.TitleSpec(nosso_numero=as_the_bank_writes(boleto), paid_cents=amount_cents, occurred_on=day,
                             due_date=date.fromisoformat(boleto["due_date"]),
                             face_value_cents=boleto["amount_cents"], **extra)


def retorno(bank_code, titles, day=date(2026, 11, 25)) -> str:
    return cnab240.build(bank_code, titles, generated_on=day, company_document="12345678000195",
                         company_name="BRASOFTWARE")


def upload(world, operator, content, content_type="text/plain; charset=ISO-8859-1"):
    body = content.encode("latin-1") if isinstance(content, str) else content
    return world.call("POST", CNAB, operator, body, headers={"Content-Type": content_type})


def state(world, orgs_and_invoices):
    """What an import may change: each invoice (version, status, paid, payments), the audit trails
    (the customers' and the reseller's) and the emails."""
    since = datetime(2026, 1, 1, tzinfo=timezone.utc).isoformat()
    until = datetime(2030, 1, 1, tzinfo=timezone.utc).isoformat()

    def trail(organization_id):
        items, _ = world.deps.audit.list(organization_id, since=since, until=until, limit=100, next_token=None)
        return sorted(e.id for e in items)

    invoices = []
    for org, invoice in orgs_and_invoices:
        current = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
        invoices.append((current["version"], current["status"], current["paid_cents"],
                         sorted(p["id"] for p in current["payments"]), trail(org.id)))
    return invoices, trail(RESELLER_ORGANIZATION_ID), len(world.outbox())


def test_a_return_file_settles_three_invoices_and_a_second_import_changes_nothing(world, clock):
    operator, issued = issued_boletos(world, clock, 3)
    clock.now = sp(2026, 11, 25, 9)
    bank = issued[0][2]["bank_code"]
    titles = [paid(boleto, invoice["total_cents"], date(2026, 11, 23)) for _, invoice, boleto in issued]
    # The bank also confirms a registration: not money, nothing to record.
    titles.insert(1, paid(issued[0][2], issued[0][1]["total_cents"], date(2026, 11, 12), movement="02"))
    content = retorno(bank, titles)

    first = upload(world, operator, content)
    assert first.status_code == 200, first.json_body
    report = first.json_body
    assert [(l["line"], l["outcome"]) for l in report["lines"]] == [
        (3, "settled"), (5, "not_a_liquidation"), (7, "settled"), (9, "settled")]
    settled = [l for l in report["lines"] if l["outcome"] == "settled"]
    assert [(l["invoice_id"], l["invoice_number"], l["amount_cents"], l["applied_cents"], l["paid_on"])
            for l in settled] == [(invoice["id"], invoice["number"], invoice["total_cents"], invoice["total_cents"],
                                   "2026-11-23") for _, invoice, _ in issued]
    totals = report["totals"]
    assert (totals["settled"], totals["not_a_liquidation"], totals["titles"], totals["problems"]) == (3, 1, 4, 0)
    assert totals["applied_cents"] == sum(invoice["total_cents"] for _, invoice, _ in issued)
    assert report["digest"] == __import__("hashlib").sha256(content.encode("latin-1")).hexdigest()

    for org, invoice, _ in issued:
        after = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
        assert (after["status"], after["balance_cents"]) == ("paid", 0)
        [payment] = after["payments"]
        assert (payment["amount_cents"], payment["paid_on"], payment["method"], payment["recorded_by"]) == (
            invoice["total_cents"], "2026-11-23", "boleto", operator.user.id)
        trail = world.call("GET", "/audit", org.master).json_body["items"]
        [recorded] = [e for e in trail if e["action"] == "invoice.payment_recorded"]
        assert recorded["after"]["source"]["cnab_digest"] == report["digest"]
    since = (datetime.now(timezone.utc) - timedelta(days=3650)).isoformat()
    imports, _ = world.deps.audit.list(RESELLER_ORGANIZATION_ID, since=since,
                                       until=datetime(2030, 1, 1, tzinfo=timezone.utc).isoformat(), limit=50,
                                       next_token=None)
    [entry] = [e for e in imports if e.action == "payments.cnab_imported"]
    assert (entry.actor_id, entry.after["digest"], entry.after["settled"]) == (operator.user.id, report["digest"], 3)

    before = state(world, [(org, invoice) for org, invoice, _ in issued])
    again = upload(world, operator, content)
    assert again.status_code == 200
    assert [(l["line"], l["outcome"]) for l in again.json_body["lines"]] == [
        (3, "already_recorded"), (5, "not_a_liquidation"), (7, "already_recorded"), (9, "already_recorded")]
    assert again.json_body["totals"]["applied_cents"] == 0
    # No second payment, no audit entry anywhere, no email: the same file changes nothing.
    assert state(world, [(org, invoice) for org, invoice, _ in issued]) == before


def test_a_broken_line_and_an_unknown_nosso_numero_are_reported_by_number_and_the_rest_applies(world, clock):
    operator, issued = issued_boletos(world, clock, 3)
    clock.now = sp(2026, 11, 25, 9)
    (org1, inv1, b1), (org2, inv2, b2), (org3, inv3, b3) = issued
    stranger = dict(b3, nosso_numero="99999999999999999")
    lines = retorno(b1["bank_code"], [paid(b1, inv1["total_cents"], date(2026, 11, 23)),
                                      paid(b2, inv2["total_cents"], date(2026, 11, 23)),
                                      paid(stranger, 12345, date(2026, 11, 23)),
                                      paid(b3, inv3["total_cents"], date(2026, 11, 24))]).split("\r\n")
    lines[5] = lines[5][:200]  # the U of the second title lost 40 characters (line 6)
    lines[9] = lines[9][:137] + "31022026" + lines[9][145:]  # the third title's U: paid on 31 Feb (line 10)
    answer = upload(world, operator, "\n".join(lines))
    assert answer.status_code == 200, answer.json_body
    by_line = {l["line"]: l for l in answer.json_body["lines"]}
    assert [(n, l["outcome"], l["problem"]) for n, l in sorted(by_line.items())] == [
        (3, "settled", None), (5, "invalid", "t_without_u"), (6, "invalid", "line_length"),
        (7, "unknown_nosso_numero", None), (10, "invalid", "bad_date")]
    assert "240" in by_line[6]["message"]
    assert "data da ocorrência" in by_line[10]["message"] and "linha 9" in by_line[10]["message"]
    assert (by_line[7]["nosso_numero"], by_line[7]["invoice_id"]) == ("99999999999999999", None)
    totals = answer.json_body["totals"]
    assert (totals["settled"], totals["unknown_nosso_numero"], totals["problems"]) == (1, 1, 3)

    statuses = [world.call("GET", f"/invoices/{i['id']}", o.master).json_body for o, i, _ in issued]
    assert [(s["status"], len(s["payments"])) for s in statuses] == [("paid", 1), ("open", 0), ("open", 0)]
    assert (statuses[1]["version"], statuses[2]["version"]) == (inv2["version"], inv3["version"])


def test_two_imports_at_once_settle_each_invoice_once(world, clock, monkeypatch):
    operator, issued = issued_boletos(world, clock, 3)
    clock.now = sp(2026, 11, 25, 9)
    content = retorno(issued[0][2]["bank_code"],
                      [paid(boleto, invoice["total_cents"], date(2026, 11, 24)) for _, invoice, boleto in issued])
    # Both imports look for the first payment before either records it: the race is certain.
    reading_together(monkeypatch, world.deps.invoices, "has_payment", 2)
    answers = in_parallel(2, lambda n: upload(world, operator, content))
    assert [a.status_code for a in answers] == [200, 200]
    outcomes = sorted(l["outcome"] for a in answers for l in a.json_body["lines"])
    assert outcomes == ["already_recorded"] * 3 + ["settled"] * 3
    for org, invoice, _ in issued:
        after = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
        assert (after["status"], len(after["payments"]), after["paid_cents"]) == ("paid", 1, invoice["total_cents"])
        trail = world.call("GET", "/audit", org.master).json_body["items"]
        assert [e["action"] for e in trail].count("invoice.payment_recorded") == 1


def test_a_late_payment_above_the_balance_settles_the_invoice_and_reports_the_surplus(world, clock):
    operator, [(org, invoice, boleto)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 12, 3, 9)
    total = invoice["total_cents"]
    late = paid(boleto, total + 731, date(2026, 12, 2), late_charges_cents=731)
    line = upload(world, operator, retorno(boleto["bank_code"], [late])).json_body["lines"][0]
    assert (line["outcome"], line["amount_cents"], line["applied_cents"], line["surplus_cents"],
            line["balance_cents"]) == ("settled", total + 731, total, 731, 0)
    assert "Excedente de R$ 7,31" in line["message"]
    after = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
    assert (after["status"], after["paid_cents"], [p["amount_cents"] for p in after["payments"]]) == (
        "paid", total, [total])


def test_a_partial_payment_leaves_the_balance_and_a_paid_or_misdated_invoice_takes_nothing(world, clock):
    operator, issued = issued_boletos(world, clock, 3)
    clock.now = sp(2026, 11, 25, 9)
    (org1, inv1, b1), (org2, inv2, b2), (org3, inv3, b3) = issued
    manual = world.call("POST", f"/backoffice/invoices/{inv2['id']}/payments", operator,
                        {"amount_cents": inv2["total_cents"], "paid_on": "2026-11-20", "method": "deposito"})
    assert manual.status_code == 201
    report = upload(world, operator, retorno(b1["bank_code"], [
        paid(b1, 1000, date(2026, 11, 23)),  # part of it
        paid(b2, inv2["total_cents"], date(2026, 11, 23)),  # paid by deposit already
        paid(b3, inv3["total_cents"], date(2026, 11, 10)),  # the day before the invoice was issued
        paid(b3, inv3["total_cents"], date(2026, 11, 26)),  # tomorrow
    ])).json_body
    assert [(l["line"], l["outcome"]) for l in report["lines"]] == [
        (3, "partial"), (5, "not_payable"), (7, "invalid"), (9, "invalid")]
    assert report["lines"][0]["balance_cents"] == inv1["total_cents"] - 1000
    assert "paga" in report["lines"][1]["message"]
    after = [world.call("GET", f"/invoices/{i['id']}", o.master).json_body for o, i, _ in issued]
    assert [(a["status"], a["paid_cents"], len(a["payments"])) for a in after] == [
        ("open", 1000, 1), ("paid", inv2["total_cents"], 1), ("open", 0, 0)]


def test_a_second_copys_boleto_is_found_and_pays_the_late_charges_too(world, clock):
    operator, [(org, invoice, first)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 11, 30, 9)  # due 23 Nov
    second = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert second.status_code == 201, second.json_body
    second = second.json_body
    assert second["amount_cents"] > invoice["total_cents"]
    clock.now = sp(2026, 12, 2, 9)
    line = upload(world, operator, retorno(second["bank_code"], [paid(second, second["amount_cents"],
                                                                     date(2026, 12, 1))])).json_body["lines"][0]
    assert (line["outcome"], line["invoice_id"], line["applied_cents"], line["surplus_cents"]) == (
        "settled", invoice["id"], second["amount_cents"], 0)


def test_hostile_files_are_refused_or_reported_and_nothing_is_written(world, clock):
    operator, issued = issued_boletos(world, clock, 1)
    (org, invoice, boleto) = issued[0]
    clock.now = sp(2026, 11, 25, 9)
    good = retorno(boleto["bank_code"], [paid(boleto, invoice["total_cents"], date(2026, 11, 23))])
    before = state(world, [(org, invoice)])

    def refused(content, status, code, content_type="text/plain"):
        answer = upload(world, operator, content, content_type)
        assert answer.status_code == status, (answer.status_code, answer.json_body)
        assert answer.json_body["error"]["code"] == code
        return answer

    refused(b"", 400, "cnab_not_a_return_file")
    refused(os.urandom(4096) + b"\x00" * 300, 400, "cnab_not_a_return_file", "application/octet-stream")
    refused(b"A" * (bank_returns.MAX_FILE_BYTES + 1), 413, "payload_too_large")
    refused(good, 415, "unsupported_file_type", "application/json")
    remessa = good[:142] + "1" + good[143:]  # the file header says: to the bank, not from it
    assert "remessa" in refused(remessa, 400, "cnab_not_a_return_file").json_body["error"]["message"]
    customer = world.call("POST", CNAB, org.master, good.encode("latin-1"), headers={"Content-Type": "text/plain"})
    assert customer.status_code == 403

    # A header that reads, then lines of every wrong length, NULs and a stray record: a report.
    header = good.split("\r\n")[0]
    junk = "\r\n".join([header, "3" * 239, "3" * 241, header[:100] + "\x00" * 140, boleto["bank_code"] + "0001" + "7"
                        + " " * 232, "é" * 240])
    report = upload(world, operator, junk)
    assert report.status_code == 200, report.json_body
    assert [(l["line"], l["outcome"], l["problem"]) for l in report.json_body["lines"]] == [
        (2, "invalid", "line_length"), (3, "invalid", "line_length"), (4, "invalid", "bad_characters"),
        (5, "invalid", "unknown_record"), (6, "invalid", "other_bank"), (7, "invalid", "no_file_trailer")]
    assert state(world, [(org, invoice)]) == before


def test_a_file_saved_again_as_utf8_with_its_bom_still_reads(world, clock):
    operator, [(org, invoice, boleto)] = issued_boletos(world, clock, 1)
    clock.now = sp(2026, 11, 25, 9)
    content = retorno(boleto["bank_code"], [paid(boleto, invoice["total_cents"], date(2026, 11, 24))])
    answer = upload(world, operator, b"\xef\xbb\xbf" + content.encode("utf-8"), "application/octet-stream")
    assert [(l["line"], l["outcome"]) for l in answer.json_body["lines"]] == [(3, "settled")]
