"""The customer's CSV exports for its ERP (issue #21 §2): invoices with their lines, subscriptions and
the audit trail of a period, answered inline, by a 303 to S3, or as a link for the portal; each
with its capability, each audited, never another organisation's rows."""
import csv
import dataclasses
import io
import json
from datetime import date, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import boto3
import pytest
import requests

from chalicelib.domain.clock import SAO_PAULO, FixedClock, iso
from chalicelib.domain.roles import Role
from tests.integration.test_billing import start_run
from tests.support import billed_in_november, sp

CSV = {"Accept": "text/csv"}
FORMULA = "=SOMA(A1:A9)"


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


@pytest.fixture
def billed(world, clock):
    """November billed (10 E3 seats); then a second product — an operator named it like a formula —
    bought on 20 Nov, and December billed: two invoices, the second with two or more lines."""
    org, operator, november = billed_in_november(world, clock)
    product = world.deps.catalog.get("POWERBI-PRO")
    world.deps.catalog.put(dataclasses.replace(product, name=FORMULA))
    clock.now = sp(2026, 11, 20, 10)
    world.subscription(org, "POWERBI-PRO", 3)
    clock.now = sp(2026, 12, 11, 9)
    start_run(world, operator, "2026-12")
    world.drain_queues()
    december = world.deps.invoices.invoice_for_period(org.id, date(2026, 12, 10))
    assert december is not None and len(december.lines) >= 2
    return {"org": org, "operator": operator, "november": world.deps.invoices.get(november.id),
            "december": december}


def rows_of(answer):
    raw = answer.body if isinstance(answer.body, bytes) else answer.body.encode("utf-8")
    return rows_of_bytes(raw)


def rows_of_bytes(raw: bytes):
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads the accents right
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=";"))


def cents(text: str) -> int:
    """'1.234,56' → 123456, '-50,00' → -5000."""
    sign = -1 if text.startswith("-") else 1
    reais, centavos = text.lstrip("-").replace(".", "").split(",")
    return sign * (int(reais) * 100 + int(centavos))


def exports_audited(world, org_id):
    entries, _ = world.deps.audit.list(org_id, since="2000-01-01", until="2100-01-01", limit=100, next_token=None)
    return [e for e in entries if e.action == "export.created"]


def s3_keys(world, org_id):
    s3 = boto3.client("s3", region_name=world.deps.settings.region)
    answer = s3.list_objects_v2(Bucket=world.deps.settings.documents_bucket, Prefix=f"exports/{org_id}/")
    return [o["Key"] for o in answer.get("Contents", [])]


def test_the_invoices_export_is_every_line_of_every_invoice_whose_period_ends_in_the_range(world, billed):
    org, november, december = billed["org"], billed["november"], billed["december"]
    answer = world.call("GET", "/exports/invoices?from=2026-11-01&to=2026-12-31", org.master, headers=CSV)
    assert answer.status_code == 200, answer.body
    headers = {k.lower(): v for k, v in answer.headers.items()}
    assert headers["content-type"] == "text/csv; charset=utf-8"
    assert headers["content-disposition"] == 'attachment; filename="faturas-2026-11-01-a-2026-12-31.csv"'
    rows = rows_of(answer)
    assert rows[0] == ["Fatura nº", "Emissão", "Período início", "Período fim", "Vencimento", "Situação",
                       "Total da fatura", "Pago", "NFS-e nº", "Linha digitável", "SKU", "Descrição", "Quantidade",
                       "Preço unitário", "Valor da linha"]
    body = rows[1:]
    assert all(len(r) == 15 for r in body)
    expected = [(invoice, line) for invoice in (november, december) for line in invoice.lines]
    assert len(body) == len(expected)
    for row, (invoice, line) in zip(body, expected):
        assert int(row[0]) == invoice.number
        assert row[1] == datetime.fromisoformat(invoice.issued_at).astimezone(SAO_PAULO).strftime("%d/%m/%Y")
        assert row[2:5] == [invoice.period_start.strftime("%d/%m/%Y"), invoice.period_end.strftime("%d/%m/%Y"),
                            invoice.due_date.strftime("%d/%m/%Y")]
        assert row[5] == "Em aberto"
        assert cents(row[6]) == invoice.total_cents and cents(row[7]) == invoice.paid_cents == 0
        assert row[8] == (invoice.nfse.number if invoice.nfse else "")
        assert row[9] == invoice.active_boleto.digitable_line and row[9]
        assert row[10] == line.sku and int(row[12]) == line.quantity
        assert cents(row[13]) == line.unit_price_cents and cents(row[14]) == line.amount_cents
    # Every invoice's lines add up to its total, read back from the file.
    for invoice in (november, december):
        assert sum(cents(r[14]) for r in body if int(r[0]) == invoice.number) == invoice.total_cents
    # The product named like a formula is text in the spreadsheet, not a formula.
    descriptions = [r[11] for r in body if r[10] == "POWERBI-PRO"]
    assert descriptions and all(d.startswith("'" + FORMULA) for d in descriptions)
    assert not any(r[11].startswith("=") for r in body)

    # November only: December's invoice (its period ends on 10 Dec) is outside.
    only_november = rows_of(world.call("GET", "/exports/invoices?from=2026-11-01&to=2026-11-30", org.master,
                                       headers=CSV))[1:]
    assert {int(r[0]) for r in only_november} == {november.number}
    assert len(only_november) == len(november.lines)
    assert rows_of(world.call("GET", "/exports/invoices?from=2026-10-01&to=2026-10-31", org.master,
                              headers=CSV))[1:] == []
    # Each export audited: kind, period and size, no data; nothing written to S3 for an inline answer.
    audited = exports_audited(world, org.id)
    assert len(audited) == 3
    assert {(e.after["kind"], e.after["from"], e.after["to"], e.after["delivery"]) for e in audited} == {
        ("invoices", "2026-11-01", "2026-12-31", "inline"), ("invoices", "2026-11-01", "2026-11-30", "inline"),
        ("invoices", "2026-10-01", "2026-10-31", "inline")}
    assert all(e.actor_id == org.master.user.id and e.before is None for e in audited)
    assert s3_keys(world, org.id) == []


def test_a_cancelled_invoice_stays_in_the_export_marked_as_cancelled(world, billed):
    org, operator, december = billed["org"], billed["operator"], billed["december"]
    cancelled = world.call("POST", f"/backoffice/invoices/{december.id}/cancel", operator,
                           {"reason": "Cobrança em duplicidade", "reissue": False})
    assert cancelled.status_code == 200, cancelled.json_body
    body = rows_of(world.call("GET", "/exports/invoices?from=2026-12-01&to=2026-12-31", org.master, headers=CSV))[1:]
    assert len(body) == len(december.lines) and {r[5] for r in body} == {"Cancelada"}


def test_a_large_export_is_a_303_to_a_short_lived_link_to_the_same_file(world, billed):
    org = billed["org"]
    inline = world.call("GET", "/exports/invoices?from=2026-11-01&to=2026-12-31", org.master, headers=CSV)
    size = len(inline.body if isinstance(inline.body, bytes) else inline.body.encode("utf-8"))
    world.deps.settings = dataclasses.replace(world.deps.settings, export_inline_max_bytes=size - 1)
    answer = world.call("GET", "/exports/invoices?from=2026-11-01&to=2026-12-31", org.master, headers=CSV)
    assert answer.status_code == 303
    location = {k.lower(): v for k, v in answer.headers.items()}["location"]
    assert parse_qs(urlparse(location).query)["X-Amz-Expires"] == ["300"]
    fetched = requests.get(location, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == (inline.body if isinstance(inline.body, bytes) else inline.body.encode("utf-8"))
    assert "faturas-2026-11-01-a-2026-12-31.csv" in fetched.headers["Content-Disposition"]
    [key] = s3_keys(world, org.id)
    # Under the organisation's prefix, in a folder named by a random token.
    prefix, org_id, token, name = key.split("/")
    assert (prefix, org_id, name) == ("exports", org.id, "faturas-2026-11-01-a-2026-12-31.csv") and len(token) >= 20
    assert [e.after["delivery"] for e in exports_audited(world, org.id)].count("redirect") == 1
    # Exactly at the limit: inline again.
    world.deps.settings = dataclasses.replace(world.deps.settings, export_inline_max_bytes=size)
    assert world.call("GET", "/exports/invoices?from=2026-11-01&to=2026-12-31", org.master,
                      headers=CSV).status_code == 200


def test_the_portal_gets_a_link_to_the_file_and_its_expiry(world, billed):
    org, clock = billed["org"], world.deps.clock
    answer = world.call("GET", "/exports/invoices?from=2026-11-01&to=2026-12-31", org.master,
                        headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.json_body
    made = answer.json_body
    fetched = requests.get(made["download_url"], timeout=10)
    assert fetched.status_code == 200
    rows = rows_of_bytes(fetched.content)
    assert made["rows"] == len(rows) - 1 == len(billed["november"].lines) + len(billed["december"].lines)
    assert made["size_bytes"] == len(fetched.content)
    assert (made["kind"], made["from"], made["to"], made["filename"]) == (
        "invoices", "2026-11-01", "2026-12-31", "faturas-2026-11-01-a-2026-12-31.csv")
    assert datetime.fromisoformat(made["expires_at"]) == clock() + timedelta(minutes=5)
    [entry] = exports_audited(world, org.id)
    assert entry.after == {"kind": "invoices", "from": "2026-11-01", "to": "2026-12-31", "rows": made["rows"],
                           "size_bytes": made["size_bytes"], "delivery": "link"}


def test_the_subscriptions_export_lists_those_with_seats_in_the_period(world, billed):
    org = billed["org"]
    world.deps.clock.now = sp(2026, 12, 15, 9)
    rows = rows_of(world.call("GET", "/exports/subscriptions?from=2026-12-01&to=2026-12-31", org.master,
                              headers=CSV))
    assert rows[0] == ["Produto", "SKU", "Família", "Quantidade", "Prazo", "Plano", "Situação", "Início", "Fim",
                       "Renovação", "Preço unitário mensal", "Total mensal"]
    body = rows[1:]
    # billed_in_november's contract ordered 10 E3 seats on 11 Nov, beside the 10 bought on 1 Oct.
    assert sorted((r[1], r[7]) for r in body) == [("MS365-E3", "01/10/2026"), ("MS365-E3", "11/11/2026"),
                                                  ("POWERBI-PRO", "20/11/2026")]
    catalog = {p.sku: p for p in world.deps.catalog.list()}
    subs = {(s.sku, s.started_on.strftime("%d/%m/%Y")): s for s in world.deps.subscriptions.list(org.id)}
    for row in body:
        sub = subs[(row[1], row[7])]
        assert row[0] == (catalog[row[1]].name if row[1] == "MS365-E3" else "'" + FORMULA)
        assert int(row[3]) == sub.quantity and row[6] == "Ativa" and row[8] == ""
        assert row[9] == sub.renews_on.strftime("%d/%m/%Y")
        assert (row[4], row[5]) == ("Anual", "Anual, cobrança mensal") or row[4] == "Anual", row
        unit = catalog[row[1]].prices[-1].unit_price_cents
        assert cents(row[10]) == unit and cents(row[11]) == unit * sub.quantity
    # Before the Power BI purchase (20 Nov), only E3 was in effect; before anything, nothing.
    october = rows_of(world.call("GET", "/exports/subscriptions?from=2026-10-01&to=2026-11-19", org.master,
                                 headers=CSV))[1:]
    assert [(r[1], r[7]) for r in october] == [("MS365-E3", "01/10/2026"), ("MS365-E3", "11/11/2026")]
    assert rows_of(world.call("GET", "/exports/subscriptions?from=2026-01-01&to=2026-09-30", org.master,
                              headers=CSV))[1:] == []


def test_the_audit_export_is_the_trail_of_the_period_in_sao_paulo_time(world, billed):
    org = billed["org"]
    world.call("GET", "/exports/subscriptions?from=2026-12-01&to=2026-12-31", org.master, headers=CSV)
    since, until = datetime(2026, 10, 1, tzinfo=SAO_PAULO), datetime(2026, 12, 31, 23, 59, 59, 999999, tzinfo=SAO_PAULO)
    entries, token = world.deps.audit.list(org.id, since=iso(since), until=iso(until), limit=100, next_token=None)
    assert token is None and len(entries) >= 3
    rows = rows_of(world.call("GET", "/exports/audit?from=2026-10-01&to=2026-12-31", org.master, headers=CSV))
    assert rows[0] == ["Quando", "Quem", "Ação", "Alvo", "Antes", "Depois", "IP de origem"]
    body = rows[1:]
    oldest_first = sorted(entries, key=lambda e: (e.at, e.id))
    assert len(body) == len(oldest_first)
    for row, entry in zip(body, oldest_first):
        at = datetime.fromisoformat(entry.at).astimezone(SAO_PAULO)
        assert row[0] == at.strftime("%d/%m/%Y %H:%M:%S")
        assert row[1] == (entry.actor_email or entry.actor_id) and row[2] == entry.action and row[3] == entry.target
        assert (json.loads(row[4]) if row[4] else None) == entry.before
        assert (json.loads(row[5]) if row[5] else None) == entry.after
    assert "export.created" in [r[2] for r in body]
    # A day with nothing: the header alone; outside the range, nothing of the period.
    assert rows_of(world.call("GET", "/exports/audit?from=2026-09-01&to=2026-09-30", org.master,
                              headers=CSV))[1:] == []


def test_typed_text_in_the_trail_is_exported_as_text(world, billed):
    org = billed["org"]
    world.deps.clock.now = sp(2026, 12, 15, 9)
    invited = world.call("POST", "/users", org.master, {"email": "novo@empresa.example", "name": "+5511 Fulano",
                                                        "roles": ["suporte"]})
    assert invited.status_code in (200, 201), invited.json_body
    body = rows_of(world.call("GET", "/exports/audit?from=2026-12-15&to=2026-12-15", org.master, headers=CSV))[1:]
    [row] = [r for r in body if r[2] == "user.invited"]
    assert json.loads(row[5])["name"] == "+5511 Fulano"  # inside the JSON: no formula cell
    # No cell of the file starts like a formula (tests/unit/test_exports.py: each typed column through `as_text`).
    assert not any(cell[:1] and cell[:1] in "=+-@" for r in body for cell in r)


def test_each_export_needs_the_capability_of_its_data(world, billed):
    org = billed["org"]
    profiles = world.profiles(org)
    allowed = {"invoices": {Role.MASTER, Role.COBRANCA, Role.OPERATOR},
               "subscriptions": {Role.MASTER, Role.ADM, Role.COBRANCA, Role.SUPORTE, Role.OPERATOR},
               "audit": {Role.MASTER, Role.OPERATOR}}
    for kind, roles in allowed.items():
        for role, account in profiles.items():
            headers = {**CSV, **({"X-Organization-Id": org.id} if role == Role.OPERATOR else {})}
            answer = world.call("GET", f"/exports/{kind}?from=2026-11-01&to=2026-12-31", account, headers=headers)
            if role in roles:
                assert answer.status_code == 200, (kind, role, answer.body)
            else:
                assert answer.status_code == 403, (kind, role)
                assert answer.json_body["error"]["code"] == "forbidden"
    # The operator's export is of the customer it acts for, and in that customer's trail.
    as_operator = rows_of(world.call("GET", "/exports/invoices?from=2026-11-01&to=2026-12-31",
                                     profiles[Role.OPERATOR], headers={**CSV, "X-Organization-Id": org.id}))
    assert {int(r[0]) for r in as_operator[1:]} == {billed["november"].number, billed["december"].number}
    assert any(e.actor_id == profiles[Role.OPERATOR].user.id for e in exports_audited(world, org.id))
    refused = sum(1 for kind, roles in allowed.items() for role in profiles if role not in roles)
    allowed_count = sum(1 for kind, roles in allowed.items() for role in profiles if role in roles)
    assert len(exports_audited(world, org.id)) == allowed_count + 1 and refused == 5


def test_another_organisations_data_never_appears(world, billed):
    org, november = billed["org"], billed["november"]
    other = world.active_organization()
    world.subscription(other, "EXO-PLAN1", 2)
    for kind in ("invoices", "subscriptions", "audit"):
        rows = rows_of(world.call("GET", f"/exports/{kind}?from=2026-01-01&to=2026-12-31", other.master,
                                  headers=CSV))[1:]
        if kind == "invoices":
            assert rows == []
        if kind == "subscriptions":
            assert [r[1] for r in rows] == ["EXO-PLAN1"]
        flat = ";".join(";".join(r) for r in rows)
        assert org.id not in flat and str(org.master.user.email) not in flat
        assert november.active_boleto.digitable_line not in flat
    mine = rows_of(world.call("GET", "/exports/subscriptions?from=2026-01-01&to=2026-12-31", org.master,
                              headers=CSV))[1:]
    assert "EXO-PLAN1" not in [r[1] for r in mine]
    # The other organisation's files are under its own prefix.
    world.call("GET", "/exports/audit?from=2026-01-01&to=2026-12-31", other.master)
    assert s3_keys(world, org.id) == [] and len(s3_keys(world, other.id)) == 1


@pytest.mark.parametrize("query, code", [
    ("from=2026-12-01&to=2026-11-01", "invalid_export_range"),
    ("from=2026-02-30&to=2026-03-01", "invalid_export_date"),
    ("from=01/11/2026&to=2026-11-30", "invalid_export_date"),
    ("from=2026-11-01", "invalid_export_date"),
    ("from=2025-01-01&to=2026-01-02", "export_period_too_long"),
])
def test_a_bad_period_is_refused_and_nothing_is_written(world, clock, query, code):
    org = world.active_organization()
    for kind in ("invoices", "subscriptions", "audit"):
        for headers in (CSV, {"Accept": "application/json"}):
            answer = world.call("GET", f"/exports/{kind}?{query}", org.master, headers=headers)
            assert answer.status_code == 400, (kind, query, answer.body)
            assert answer.json_body["error"]["code"] == code
    assert exports_audited(world, org.id) == [] and s3_keys(world, org.id) == []


def test_a_whole_leap_year_is_one_period(world, clock):
    org = world.active_organization()
    answer = world.call("GET", "/exports/audit?from=2028-01-01&to=2028-12-31", org.master, headers=CSV)
    assert answer.status_code == 200  # 366 days
