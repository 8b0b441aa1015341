"""Credit notes as pure rules: how much an invoice may still be credited, and how credits left
become negative lines of the next invoice (oldest first, never below zero, the rest carried)."""
from datetime import date

import pytest

from chalicelib.domain import credits
from chalicelib.domain.billing import CANCELLED, OPEN, Invoice, InvoiceLine
from chalicelib.domain.credits import CreditApplication, CreditNote
from chalicelib.domain.errors import DomainError
from chalicelib.domain.proration import Period

PERIOD = Period(date(2026, 11, 11), date(2026, 12, 10))


def line(amount):
    return InvoiceLine(description="Microsoft 365 E3", sku="MS365-E3", quantity=1, days=30, period_days=30,
                       unit_price_cents=amount, amount_cents=amount, start=PERIOD.start, end=PERIOD.end)


def note(id, remaining, created_at="2026-11-12T10:00:00+00:00", number=12):
    return CreditNote(id=id, organization_id="org", invoice_id=f"inv-{number}", invoice_number=number,
                      amount_cents=remaining, reason="Desconto", created_at=created_at, created_by="op",
                      remaining_cents=remaining)


def invoice(total, credited=0, status=OPEN):
    return Invoice(id="inv-12", organization_id="org", contract_id="c", number=12, period_start=PERIOD.start,
                   period_end=PERIOD.end, issued_at="2026-11-11T12:00:00+00:00", due_date=date(2026, 11, 21),
                   lines=[line(total)], total_cents=total, payment_method="boleto", status=status,
                   credited_cents=credited)


def test_a_credit_smaller_than_the_invoice_is_used_whole_as_one_negative_line():
    lines, used = credits.apply_credits([line(20710)], [note("a", 5000)], PERIOD, "inv-13", 13)

    assert [l.amount_cents for l in lines] == [20710, -5000]
    assert lines[1].description == "Crédito — nota de crédito sobre a fatura nº 12: Desconto"
    assert lines[1].sku == "CREDITO:inv-12:a" and (lines[1].days, lines[1].period_days) == (30, 30)
    [(before, after)] = used
    assert (before.remaining_cents, after.remaining_cents, after.version) == (5000, 0, 2)
    assert after.applications == (CreditApplication("inv-13", 13, 5000),) and after.applied_to_invoice_id == "inv-13"


def test_credits_go_oldest_first_and_what_does_not_fit_stays_for_the_next_invoice():
    older, newer = note("old", 15000, "2026-10-01T00:00:00+00:00"), note("new", 9000, "2026-11-01T00:00:00+00:00")

    lines, used = credits.apply_credits([line(20000)], [newer, older], PERIOD, "inv-13", 13)

    # 20 000 owed: 15 000 from the older note, the remaining 5 000 from the newer; 4 000 left of it.
    assert [l.amount_cents for l in lines] == [20000, -15000, -5000]
    assert sum(l.amount_cents for l in lines) == 0
    assert [(b.id, a.remaining_cents) for b, a in used] == [("old", 0), ("new", 4000)]


def test_an_invoice_uses_at_most_twenty_notes_the_oldest_and_the_others_wait_for_the_next():
    # Each note used is two writes in the transaction (the note and its collection marker).
    notes = [note(f"n{i:02d}", 100, f"2026-11-{i + 1:02d}T00:00:00+00:00") for i in range(25)]

    lines, used = credits.apply_credits([line(20000)], list(reversed(notes)), PERIOD, "inv-13", 13)

    assert credits.MAX_CREDITS_PER_INVOICE == 20
    assert [b.id for b, _ in used] == [f"n{i:02d}" for i in range(20)]
    assert sum(l.amount_cents for l in lines) == 20000 - 20 * 100


def test_no_lines_use_no_credit():
    assert credits.apply_credits([], [note("a", 5000)], PERIOD, "inv-13", 13) == ([], [])


def test_a_cancelled_invoice_gives_back_what_it_used():
    _, [(_, used)] = credits.apply_credits([line(3000)], [note("a", 5000)], PERIOD, "inv-13", 13)

    back = credits.given_back(used, "inv-13")

    assert (back.remaining_cents, back.applications, back.version) == (5000, (), 3)


def test_an_invoice_takes_credits_up_to_its_total_less_what_was_granted():
    credits.check_credit(invoice(10000, credited=4000), 6000)
    with pytest.raises(DomainError) as too_much:
        credits.check_credit(invoice(10000, credited=4000), 6001)
    assert too_much.value.code == "credit_exceeds_invoice" and "R$ 60,00" in too_much.value.message
    with pytest.raises(DomainError) as cancelled:
        credits.check_credit(invoice(10000, status=CANCELLED), 1)
    assert cancelled.value.code == "invoice_not_creditable"
