"""The receivables as pure functions: age bands at their edges, totals with a disputed invoice apart,
the CSV's numbers, dates and quoting, the dispute flag's rules."""
import csv
import io
from datetime import date

import pytest

from chalicelib.domain import receivables as rules
from chalicelib.domain.billing import CANCELLED, OPEN, OVERDUE, PAID, Dispute, Invoice
from chalicelib.domain.errors import Conflict, InvalidInput

TODAY = date(2027, 1, 12)
DISPUTE = Dispute(reason="Contesta", opened_by="op", opened_at="2026-12-01T15:00:00+00:00")


def invoice(number, due, status=OVERDUE, total=10_000, paid=0, dispute=None):
    return Invoice(id=f"inv-{number}", organization_id="org", contract_id="c", number=number,
                   period_start=date(2026, 9, 1), period_end=date(2026, 9, 30), issued_at="2026-10-01T02:30:00+00:00",
                   due_date=due, lines=[], total_cents=total, payment_method="boleto", status=status,
                   paid_cents=paid, dispute=dispute)


@pytest.mark.parametrize("days, band", [(1, "days_1_30"), (30, "days_1_30"), (31, "days_31_60"), (60, "days_31_60"),
                                        (61, "days_61_90"), (90, "days_61_90"), (91, "days_over_90"),
                                        (400, "days_over_90")])
def test_age_bands_at_their_edges(days, band):
    assert rules.age_band(days) == band


def test_days_past_due_only_while_something_is_owed():
    due = date(2027, 1, 2)
    assert rules.days_past_due(invoice(1, due), TODAY) == 10
    assert rules.days_past_due(invoice(1, TODAY, status=OPEN), TODAY) == 0
    assert rules.days_past_due(invoice(1, due, status=PAID, paid=10_000), TODAY) == 0
    assert rules.days_past_due(invoice(1, due, status=CANCELLED), TODAY) == 0


def test_totals_put_a_disputed_invoice_apart_and_band_the_overdue_by_age():
    invoices = [
        invoice(1, date(2027, 1, 11), total=100),  # D+1
        invoice(2, date(2026, 11, 13), total=200, paid=50),  # D+60
        invoice(3, date(2026, 11, 12), total=300),  # D+61
        invoice(4, date(2026, 10, 1), total=400),  # D+103
        invoice(5, date(2026, 10, 1), total=500, dispute=DISPUTE),  # overdue but disputed
        invoice(6, date(2027, 1, 20), status=OPEN, total=600),
        invoice(7, date(2027, 1, 20), status=OPEN, total=700, dispute=DISPUTE),
        invoice(8, date(2026, 12, 1), status=PAID, total=800, paid=800),
    ]
    assert rules.totals(invoices, TODAY) == {
        "count": 8, "balance_cents": 100 + 150 + 300 + 400 + 500 + 600 + 700,
        "open": {"count": 1, "balance_cents": 600},
        "overdue": {"count": 4, "balance_cents": 100 + 150 + 300 + 400},
        "overdue_by_age": {"days_1_30": {"count": 1, "balance_cents": 100},
                           "days_31_60": {"count": 1, "balance_cents": 150},
                           "days_61_90": {"count": 1, "balance_cents": 300},
                           "days_over_90": {"count": 1, "balance_cents": 400}},
        "disputed": {"count": 2, "balance_cents": 1200},
    }


def test_the_csv_is_what_excel_in_brazil_opens():
    rows = [rules.Row(invoice(12, date(2026, 12, 21), total=123456, paid=100), "Pão; \"Mel\" Ltda", "12345678000195"),
            rules.Row(invoice(13, date(2027, 1, 20), status=OPEN, total=99, dispute=DISPUTE), "Sem CNPJ", None)]
    text = rules.csv_text(rows, TODAY)
    assert text.startswith("\ufeffCliente;CNPJ;Fatura nº;Emissão;Vencimento;Situação;") and "\r\n" in text
    assert '"Pão; ""Mel"" Ltda"' in text
    parsed = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=";"))
    assert parsed[1] == ["Pão; \"Mel\" Ltda", "12.345.678/0001-95", "12", "30/09/2026", "21/12/2026", "Vencida", "22",
                         "1.234,56", "1,00", "1.233,56", "Não"]
    # Issued at 02:30 UTC on 1 Oct: still 30 Sep in São Paulo.
    assert parsed[2] == ["Sem CNPJ", "", "13", "30/09/2026", "20/01/2027", "Em aberto", "0", "0,99", "0,00", "0,99",
                         "Sim"]
    assert rules.br_decimal(123_456_789) == "1.234.567,89"


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x.example\";\"Clique\")", "+cmd|' /C calc'!A0", "-1+1", "@SUM(A1)"])
def test_a_customer_name_never_runs_as_a_formula_in_the_csv(name):
    # The name comes from the public lead form: whoever typed it must not run code on the accountant's machine.
    text = rules.csv_text([rules.Row(invoice(1, date(2026, 12, 21)), name, None)], TODAY)
    [row] = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=";"))[1:]
    assert row[0] == "'" + name


def test_a_dispute_only_on_an_open_or_overdue_invoice_and_only_once():
    flagged = rules.disputed(invoice(1, date(2026, 12, 1)), "Contesta", "op", "2026-12-02T12:00:00+00:00")
    assert flagged.dispute.reason == "Contesta" and flagged.status == OVERDUE and flagged.version == 2
    with pytest.raises(Conflict) as again:
        rules.disputed(flagged, "De novo", "op", "2026-12-03T12:00:00+00:00")
    assert again.value.code == "invoice_already_disputed" and "02/12/2026" in again.value.message
    for status in (PAID, CANCELLED):
        with pytest.raises(Conflict) as refused:
            rules.disputed(invoice(1, date(2026, 12, 1), status=status), "Contesta", "op", "2026-12-02T12:00:00+00:00")
        assert refused.value.code == "invoice_not_disputable"
    cleared = rules.resolved(flagged)
    assert cleared.dispute is None and cleared.version == 3
    with pytest.raises(Conflict):
        rules.resolved(cleared)


def test_due_dates_and_their_range():
    assert rules.parse_day("2026-11-30", "due_from") == date(2026, 11, 30) and rules.parse_day(None, "x") is None
    for bad in ("2026-02-30", "30/11/2026", "2026-1-1"):
        with pytest.raises(InvalidInput):
            rules.parse_day(bad, "due_from")
    rules.check_range(date(2026, 11, 30), date(2026, 11, 30))
    with pytest.raises(InvalidInput):
        rules.check_range(date(2026, 12, 1), date(2026, 11, 30))


def test_a_cancelled_invoice_owes_nothing_in_the_totals_nor_in_the_csv():
    cancelled = invoice(7, date(2026, 12, 21), status=CANCELLED, total=50_000)
    assert rules.totals([cancelled], TODAY)["balance_cents"] == 0
    [row] = list(csv.reader(io.StringIO(rules.csv_text([rules.Row(cancelled, "Cliente", None)], TODAY).lstrip("\ufeff"),
                                        newline=""), delimiter=";"))[1:]
    assert (row[5], row[7], row[9]) == ("Cancelada", "500,00", "0,00")
