"""The operator's receivables across customers (filters, pages, totals by age band, the CSV Excel
opens) and the dispute flag on an invoice."""
import base64
import csv
import io
import json
from datetime import date

import pytest

from chalicelib.domain.clock import FixedClock, local_day
from chalicelib.domain.roles import Role
from tests.integration.test_billing import issued_invoice, run_overdue_job, start_run
from tests.support import in_parallel, reading_together, sp

# Every customer's E3 seats were bought on 1 July; the runs of August to January each bill them all.
CUSTOMERS = (("Pão de Mel Ltda", 7), ("Café; Leite & Cia", 1), ("Terra Firme S.A.", 2))
TODAY = date(2027, 1, 12)


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 7, 1))
    return world.deps.clock


def customer(world, name, seats):
    org = world.organization(name=name, items=())
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", seats)
    return org


@pytest.fixture
def book(world, clock):
    """Three customers, six monthly invoices each (due from August to January), as on 12 Jan 2027:
    Pão de Mel paid its first in full, Café paid part of its November one, Terra Firme's October
    one is disputed; the January ones are still open, the others overdue."""
    orgs = [customer(world, name, seats) for name, seats in CUSTOMERS]
    operator = world.operator()
    for year, month in ((2026, 8), (2026, 9), (2026, 10), (2026, 11), (2026, 12), (2027, 1)):
        clock.now = sp(year, month, 11, 9)
        start_run(world, operator, f"{year}-{month:02d}")
        world.drain_queues()
    clock.now = sp(2027, 1, 12, 9)
    run_overdue_job(world)
    invoices = {org.organization.name: sorted(world.deps.invoices.list(org.id, status=None, limit=50,
                                                                       next_token=None)[0],
                                              key=lambda i: i.due_date) for org in orgs}
    assert [len(v) for v in invoices.values()] == [6, 6, 6]
    pao, cafe, terra = (invoices[name] for name, _ in CUSTOMERS)
    pay(world, operator, pao[0], pao[0].total_cents)
    pay(world, operator, cafe[3], 1000)
    answer = world.call("POST", f"/backoffice/invoices/{terra[2].id}/dispute", operator,
                        {"reason": "Cliente contesta as licenças de outubro"})
    assert answer.status_code == 200, answer.json_body
    fresh = {name: [world.deps.invoices.get(i.id) for i in items] for name, items in invoices.items()}
    return {"orgs": dict(zip((name for name, _ in CUSTOMERS), orgs)), "operator": operator, "invoices": fresh}


def pay(world, operator, invoice, amount):
    answer = world.call("POST", f"/backoffice/invoices/{invoice.id}/payments", operator,
                        {"amount_cents": amount, "paid_on": local_day(world.deps.clock()).isoformat(),
                         "method": "deposito"})
    assert answer.status_code == 201, answer.json_body


def every(book):
    return [i for items in book["invoices"].values() for i in items]


def walk(world, operator, query, limit):
    """Every page of a listing: (items, pages, totals of the first page)."""
    items, pages, token, totals = [], 0, None, None
    while True:
        path = f"/backoffice/invoices?{query}&limit={limit}" + (f"&next_token={token}" if token else "")
        answer = world.call("GET", path, operator)
        assert answer.status_code == 200, answer.json_body
        body = answer.json_body
        if pages == 0:
            totals = body["totals"]
        else:
            assert body["totals"] is None
        assert len(body["items"]) <= limit
        items += body["items"]
        pages += 1
        token = body["next_token"]
        if token is None:
            return items, pages, totals


def expected_totals(invoices):
    """The totals as an accountant would add them up, straight from the invoices."""
    def add(into, invoice):
        into["count"] += 1
        into["balance_cents"] += invoice.balance_cents

    zero = lambda: {"count": 0, "balance_cents": 0}  # noqa: E731
    result = {"count": 0, "balance_cents": 0, "open": zero(), "overdue": zero(), "disputed": zero(),
              "overdue_by_age": {band: zero() for band in ("days_1_30", "days_31_60", "days_61_90", "days_over_90")}}
    for invoice in invoices:
        add(result, invoice)
        if invoice.dispute is not None:
            add(result["disputed"], invoice)
        elif invoice.status == "open":
            add(result["open"], invoice)
        elif invoice.status == "overdue":
            add(result["overdue"], invoice)
            days = (TODAY - invoice.due_date).days
            band = ("days_1_30" if days <= 30 else "days_31_60" if days <= 60
                    else "days_61_90" if days <= 90 else "days_over_90")
            add(result["overdue_by_age"][band], invoice)
    return result


def test_what_is_owed_across_customers_pages_whole_without_duplicates_with_exact_totals(world, book):
    operator = book["operator"]
    owed = [i for i in every(book) if i.status in ("open", "overdue")]
    assert len(owed) == 17  # 18 issued, one paid
    items, pages, totals = walk(world, operator, "", limit=4)
    ids = [i["id"] for i in items]
    assert len(ids) == len(set(ids)) == 17 and set(ids) == {i.id for i in owed}
    assert pages == 5
    # The overdue first, then the open ones, each oldest due first.
    statuses = [i["status"] for i in items]
    assert statuses == ["overdue"] * 14 + ["open"] * 3  # the disputed one is still overdue
    overdue_dues = [i["due_date"] for i in items if i["status"] == "overdue"]
    assert overdue_dues == sorted(overdue_dues)
    assert totals == expected_totals(owed)
    # Every band holds something: the invoices are 22, 50, 84, 113 and 144 days past due.
    assert all(band["count"] > 0 for band in totals["overdue_by_age"].values()), totals
    assert totals["disputed"]["count"] == 1 and totals["overdue"]["count"] == 13 and totals["open"]["count"] == 3

    # Each item: the customer, its CNPJ, days past due, the balance, the flag.
    terra = book["orgs"]["Terra Firme S.A."]
    disputed_one = next(i for i in items if i["disputed"])
    assert disputed_one["organization_id"] == terra.id and disputed_one["organization_name"] == "Terra Firme S.A."
    assert disputed_one["organization_cnpj"] == terra.organization.cnpj
    assert disputed_one["dispute"]["reason"] == "Cliente contesta as licenças de outubro"
    cafe_nov = book["invoices"]["Café; Leite & Cia"][3]
    listed = next(i for i in items if i["id"] == cafe_nov.id)
    assert listed["balance_cents"] == cafe_nov.total_cents - 1000
    assert listed["days_overdue"] == (TODAY - cafe_nov.due_date).days > 30
    assert all(i["days_overdue"] == 0 for i in items if i["status"] == "open")


def test_a_filter_too_wide_to_total_is_refused_in_words_and_a_narrower_one_answers(world, book, monkeypatch):
    from chalicelib.services import receivables

    operator = book["operator"]
    monkeypatch.setattr(receivables, "MAX_FILTER_INVOICES", 16)  # what is owed is 17 invoices
    for headers in ({}, {"Accept": "text/csv"}):
        wide = world.call("GET", "/backoffice/invoices", operator, headers=headers)
        assert wide.status_code == 422 and wide.json_body["error"]["code"] == "receivables_filter_too_large"
        assert "16 faturas" in wide.json_body["error"]["message"]
    narrow = world.call("GET", "/backoffice/invoices?due_from=2026-10-01", operator)
    assert narrow.status_code == 200 and narrow.json_body["totals"]["count"] < 16


def test_by_status_and_due_range(world, book):
    operator = book["operator"]
    invoices = every(book)
    for status in ("open", "overdue", "paid", "cancelled"):
        items, _, totals = walk(world, operator, f"status={status}", limit=5)
        expected = {i.id for i in invoices if i.status == status}
        assert {i["id"] for i in items} == expected and len(items) == len(expected), status
        assert totals == expected_totals([i for i in invoices if i.status == status])
    window = [i for i in invoices if date(2026, 10, 1) <= i.due_date <= date(2026, 11, 30)
              and i.status in ("open", "overdue")]
    assert len(window) == 6
    items, _, totals = walk(world, operator, "due_from=2026-10-01&due_to=2026-11-30", limit=2)
    assert sorted(i["id"] for i in items) == sorted(i.id for i in window)
    assert totals == expected_totals(window)
    # Both ends are included: a range of one day holds the invoices due that day.
    day = window[0].due_date.isoformat()
    items, _, _ = walk(world, operator, f"due_from={day}&due_to={day}", limit=50)
    assert {i["id"] for i in items} == {i.id for i in window if i.due_date.isoformat() == day}
    # Open-ended on either side.
    items, _, _ = walk(world, operator, "status=overdue&due_to=2026-09-30", limit=50)
    assert {i["id"] for i in items} == {i.id for i in invoices if i.status == "overdue"
                                        and i.due_date <= date(2026, 9, 30)}
    items, _, _ = walk(world, operator, "due_from=2027-01-01", limit=50)
    assert {i["status"] for i in items} == {"open"} and len(items) == 3


def test_one_organisations_receivables(world, book):
    operator = book["operator"]
    cafe = book["orgs"]["Café; Leite & Cia"]
    mine = book["invoices"]["Café; Leite & Cia"]
    items, pages, totals = walk(world, operator, f"organization_id={cafe.id}", limit=2)
    assert [i["id"] for i in items] == [i.id for i in mine]  # by period: oldest first
    assert pages == 3 and totals == expected_totals(mine)
    items, _, totals = walk(world, operator, f"organization_id={cafe.id}&status=overdue&due_from=2026-09-01",
                            limit=50)
    expected = [i for i in mine if i.status == "overdue" and i.due_date >= date(2026, 9, 1)]
    assert [i["id"] for i in items] == [i.id for i in expected] and len(expected) == 4
    assert totals == expected_totals(expected)
    assert world.call("GET", "/backoffice/invoices?organization_id=nobody", operator).json_body == {
        "items": [], "next_token": None, "totals": expected_totals([])}


def test_bad_filters_are_refused_in_portuguese(world, book):
    operator = book["operator"]
    cases = {
        "status=vencida": "invalid_invoice_status",
        "due_from=2026-02-30": "invalid_due_date",
        "due_to=30/11/2026": "invalid_due_date",
        "due_from=2026-12-01&due_to=2026-11-01": "invalid_due_range",
        "next_token=bm90LWEtdG9rZW4": "invalid_next_token",
        # A token naming a partition outside the filter, or a key not of the index's form.
        "status=open&next_token=" + base64.urlsafe_b64encode(json.dumps(
            {"p": "paid", "k": "2026-11-23#abc"}).encode()).decode().rstrip("="): "invalid_next_token",
        "next_token=" + base64.urlsafe_b64encode(json.dumps(
            {"p": "open", "k": "x\" OR 1=1"}).encode()).decode().rstrip("="): "invalid_next_token",
        # A key outside the due range asked (DynamoDB would refuse it as a start key).
        "due_from=2026-12-01&next_token=" + base64.urlsafe_b64encode(json.dumps(
            {"p": "open", "k": "2026-11-23#abc"}).encode()).decode().rstrip("="): "invalid_next_token",
        "limit=0": "invalid_limit",
        "organisation=x": "unknown_parameter",
    }
    for query, code in cases.items():
        answer = world.call("GET", f"/backoffice/invoices?{query}", operator)
        assert answer.status_code == 400, query
        assert answer.json_body["error"]["code"] == code, (query, answer.json_body)
    assert "AAAA-MM-DD" in world.call("GET", "/backoffice/invoices?due_from=2026-02-30",
                                      operator).json_body["error"]["message"]
    assert "anterior" in world.call("GET", "/backoffice/invoices?due_from=2026-12-01&due_to=2026-11-01",
                                    operator).json_body["error"]["message"]


def test_the_csv_is_every_row_of_the_filter_as_excel_in_brazil_opens_it(world, book):
    operator = book["operator"]
    answer = world.call("GET", "/backoffice/invoices?limit=1", operator, headers={"Accept": "text/csv"})
    assert answer.status_code == 200
    headers = {k.lower(): v for k, v in answer.headers.items()}
    assert headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["content-disposition"] == 'attachment; filename="faturas-a-receber-2027-01-12.csv"'
    raw = answer.body if isinstance(answer.body, bytes) else answer.body.encode("utf-8")
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the accents right
    text = raw.decode("utf-8-sig")
    assert '"Café; Leite & Cia"' in text  # the `;` in a name is quoted, not a new column
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    assert rows[0] == ["Cliente", "CNPJ", "Fatura nº", "Emissão", "Vencimento", "Situação", "Dias em atraso",
                       "Total", "Pago", "Saldo", "Em contestação"]
    assert all(len(r) == 11 for r in rows)
    body = rows[1:]
    assert len(body) == 17  # every row of the filter, not the page of one
    by_number = {(r[0], int(r[2])): r for r in body}
    pao = book["orgs"]["Pão de Mel Ltda"]
    pao_dec = book["invoices"]["Pão de Mel Ltda"][4]
    row = by_number[("Pão de Mel Ltda", pao_dec.number)]
    cnpj = pao.organization.cnpj
    assert row[1] == f"{cnpj[:2]}.{cnpj[2:5]}.{cnpj[5:8]}/{cnpj[8:12]}-{cnpj[12:]}"
    assert row[4] == pao_dec.due_date.strftime("%d/%m/%Y") and row[3].endswith("/2026")
    assert row[5] == "Vencida" and row[6] == str((TODAY - pao_dec.due_date).days) and row[10] == "Não"
    reais, cents = divmod(pao_dec.total_cents, 100)
    assert pao_dec.total_cents >= 100_000  # seven seats: over a thousand reais, a thousands separator
    assert row[7] == f"{reais // 1000}.{reais % 1000:03d},{cents:02d}" == row[9] and row[8] == "0,00"
    cafe_nov = book["invoices"]["Café; Leite & Cia"][3]
    row = by_number[("Café; Leite & Cia", cafe_nov.number)]
    assert row[8] == "10,00"
    terra_oct = book["invoices"]["Terra Firme S.A."][2]
    assert by_number[("Terra Firme S.A.", terra_oct.number)][10] == "Sim"
    assert {r[5] for r in body} == {"Vencida", "Em aberto"}

    # The same filters as the JSON: the paid one only.
    paid = world.call("GET", "/backoffice/invoices?status=paid", operator, headers={"Accept": "text/csv"})
    rows = list(csv.reader(io.StringIO(paid.body.decode("utf-8-sig") if isinstance(paid.body, bytes)
                                       else paid.body.lstrip("\ufeff"), newline=""), delimiter=";"))
    assert [r[5] for r in rows[1:]] == ["Paga"] and rows[1][0] == "Pão de Mel Ltda" and rows[1][6] == "0"
    # JSON unless CSV is asked for by name.
    assert world.call("GET", "/backoffice/invoices", operator,
                      headers={"Accept": "*/*"}).headers["Content-Type"] == "application/json"


# --- the dispute flag ---------------------------------------------------------------------------

@pytest.fixture
def small_clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def trail(world, org):
    """The organisation's dispute entries, newest first."""
    return [e for e in world.call("GET", "/audit", org.master).json_body["items"]
            if e["action"].startswith("invoice.dispute")]


def test_a_dispute_stops_the_overdue_job_and_its_resolution_lets_the_next_run_mark_it(world, small_clock):
    org, operator, invoice = issued_invoice(world, small_clock)  # due 23 Nov 2026
    path = f"/backoffice/invoices/{invoice['id']}/dispute"
    small_clock.now = sp(2026, 11, 20, 10)
    answer = world.call("POST", path, operator, {"reason": "  Cliente   contesta a quantidade  "},
                        headers={"Idempotency-Key": "disputa-1"})
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body["dispute"] == {"reason": "Cliente contesta a quantidade",
                                           "opened_at": "2026-11-20T13:00:00+00:00"}
    assert answer.json_body["status"] == "open" and answer.json_body["version"] == invoice["version"] + 1
    replay = world.call("POST", path, operator, {"reason": "  Cliente   contesta a quantidade  "},
                        headers={"Idempotency-Key": "disputa-1"})
    assert replay.json_body == answer.json_body and replay.headers.get("Idempotent-Replayed") == "true"
    # The customer sees it on the invoice and in the list.
    seen = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
    assert seen["dispute"]["reason"] == "Cliente contesta a quantidade"
    assert world.call("GET", "/invoices", org.master).json_body["items"][0]["dispute"] == seen["dispute"]
    [entry] = trail(world, org)
    assert entry["action"] == "invoice.disputed" and entry["actor_id"] == operator.user.id
    assert entry["after"]["dispute"]["reason"] == "Cliente contesta a quantidade"

    small_clock.now = sp(2026, 12, 10, 9)  # 17 days past due
    run_overdue_job(world)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "open"
    assert not [m for m in world.outbox() if "Lembrete" in m["Subject"]]

    resolve = f"{path}/resolve"
    answer = world.call("POST", resolve, operator, {"note": "Quantidade conferida com o cliente"})
    assert answer.status_code == 200, answer.json_body
    assert answer.json_body["dispute"] is None and answer.json_body["status"] == "open"
    entries = trail(world, org)
    assert [e["action"] for e in entries] == ["invoice.dispute_resolved", "invoice.disputed"]
    assert entries[0]["after"]["note"] == "Quantidade conferida com o cliente"
    assert entries[0]["before"]["dispute"]["reason"] == "Cliente contesta a quantidade"
    again = world.call("POST", resolve, operator, {"note": "Quantidade conferida com o cliente"})
    assert again.status_code == 409 and again.json_body["error"]["code"] == "invoice_not_disputed"

    small_clock.now = sp(2026, 12, 11, 9)
    run_overdue_job(world)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["status"] == "overdue"
    assert [m for m in world.outbox() if "Lembrete" in m["Subject"]]
    assert [e["action"] for e in trail(world, org)].count("invoice.disputed") == 1


def test_a_refused_dispute_writes_nothing(world, small_clock):
    org, operator, invoice = issued_invoice(world, small_clock)
    path = f"/backoffice/invoices/{invoice['id']}/dispute"
    before = world.deps.invoices.get(invoice["id"])
    for body, status, code in (({"reason": "abc"}, 400, "too_short"),
                               ({"reason": "     a  b     "}, 400, "too_short"),
                               ({"reason": "x" * 501}, 400, "too_long"),
                               ({}, 400, "required"),
                               ({"reason": "Contesta", "extra": 1}, 400, "unknown_field")):
        answer = world.call("POST", path, operator, body)
        assert (answer.status_code, answer.json_body["error"]["code"]) == (status, code), body
    missing = world.call("POST", "/backoffice/invoices/nao-existe/dispute", operator, {"reason": "Contesta valor"})
    assert missing.status_code == 404 and missing.json_body["error"]["code"] == "invoice_not_found"
    resolve = world.call("POST", f"{path}/resolve", operator, {"note": "Nada a resolver"})
    assert resolve.status_code == 409 and resolve.json_body["error"]["code"] == "invoice_not_disputed"
    assert world.deps.invoices.get(invoice["id"]) == before and trail(world, org) == []

    assert world.call("POST", path, operator, {"reason": "Contesta o valor"}).status_code == 200
    flagged = world.deps.invoices.get(invoice["id"])
    twice = world.call("POST", path, operator, {"reason": "Outro motivo qualquer"})
    assert twice.status_code == 409 and twice.json_body["error"]["code"] == "invoice_already_disputed"
    assert "11/11/2026" in twice.json_body["error"]["message"]
    assert world.deps.invoices.get(invoice["id"]) == flagged and len(trail(world, org)) == 1

    # A paid invoice cannot be disputed.
    world.call("POST", f"{path}/resolve", operator, {"note": "Resolvido com o cliente"})
    pay(world, operator, world.deps.invoices.get(invoice["id"]), invoice["total_cents"])
    paid = world.deps.invoices.get(invoice["id"])
    answer = world.call("POST", path, operator, {"reason": "Contesta o valor"})
    assert answer.status_code == 409 and answer.json_body["error"]["code"] == "invoice_not_disputable"
    assert "paga" in answer.json_body["error"]["message"]
    assert world.deps.invoices.get(invoice["id"]) == paid
    assert [e["action"] for e in trail(world, org)].count("invoice.disputed") == 1


def test_two_disputes_at_once_write_one(world, small_clock, monkeypatch):
    org, operator, invoice = issued_invoice(world, small_clock)
    path = f"/backoffice/invoices/{invoice['id']}/dispute"
    reading_together(monkeypatch, world.deps.invoices, "get", 2)
    outcomes = in_parallel(2, lambda n: world.call("POST", path, operator, {"reason": f"Motivo número {n}"}))
    assert sorted(o.status_code for o in outcomes) == [200, 409]
    assert [e["action"] for e in trail(world, org)] == ["invoice.disputed"]
    winner = next(o for o in outcomes if o.status_code == 200).json_body["dispute"]["reason"]
    assert world.deps.invoices.get(invoice["id"]).dispute.reason == winner


def test_customers_see_none_of_it(world, small_clock):
    org, operator, invoice = issued_invoice(world, small_clock)
    before = world.deps.invoices.get(invoice["id"])
    for account in (org.master, world.user(org.id, [Role.COBRANCA]), world.user(org.id, [Role.ADM])):
        for method, path, body in (("GET", "/backoffice/invoices", None),
                                   ("POST", f"/backoffice/invoices/{invoice['id']}/dispute",
                                    {"reason": "Não concordo"}),
                                   ("POST", f"/backoffice/invoices/{invoice['id']}/dispute/resolve",
                                    {"note": "Resolvido"})):
            answer = world.call(method, path, account, body, headers={"Accept": "text/csv"} if body is None else None)
            assert answer.status_code == 403 and answer.json_body["error"]["code"] == "forbidden", (account, path)
    assert world.deps.invoices.get(invoice["id"]) == before and trail(world, org) == []
