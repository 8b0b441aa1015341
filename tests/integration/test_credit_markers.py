"""Credit notes left, in their organisation's item collection (issue #22 §1): each note with
something left has a marker there (written and deleted in the note's own transactions), which the
billing worker reads with the contract instead of querying the credit index per invoice. Notes
from before the markers: applied through the index until the backfill has marked them all and
written the table's marker; a run's shard messages tell the workers which read to trust."""
from dataclasses import replace
from datetime import date

import pytest

from chalicelib.domain.clock import FixedClock
from chalicelib.domain.proration import Segment
from chalicelib.services import billing
from chalicelib.services.credit_markers import backfill_credit_markers
from chalicelib.storage import keys
from chalicelib.storage.models import CreditLeftItem, CreditNoteItem, MarkerItem
from tests.support import sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def _billed(world, clock, operator, count=1, ending_exchange=False):
    """`count` organisations with 10 E3 seats since 1 Oct (and, `ending_exchange`, 5 Exchange seats
    that end on 11 Nov: December's invoice is then smaller than November's), billed at their 10 Nov
    closing: [(org, its November invoice)]."""
    clock.now = sp(2026, 10, 1)
    world.seed_catalog()
    orgs = []
    for _ in range(count):
        org = world.organization(closing_day=10, items=())
        world.accept_contract(org)
        world.subscription(org, "MS365-E3", 10)
        if ending_exchange:
            world.subscription_timeline(org, "EXO-PLAN1", [Segment(date(2026, 10, 1), 5), Segment(date(2026, 11, 11), 0)])
        orgs.append(org)
    clock.now = sp(2026, 11, 11, 9)
    world.billing_run(operator, "2026-11")
    clock.now = sp(2026, 11, 12, 10)
    return [(org, world.call("GET", "/invoices", org.master).json_body["items"][0]) for org in orgs]


def _grant(world, operator, invoice_id, amount_cents):
    granted = world.call("POST", f"/backoffice/invoices/{invoice_id}/credit-notes", operator,
                         {"amount_cents": amount_cents, "reason": "Desconto comercial"})
    assert granted.status_code == 201, granted.json_body
    return granted.json_body


def _markers(org_id):
    """The (invoice, note) ids of the organisation's credit markers, in their order."""
    return [(m.invoice_id, m.credit_note_id) for m in CreditLeftItem.query(
        keys.org_pk(org_id), CreditLeftItem.sk.startswith(keys.CREDIT_LEFT_PREFIX), consistent_read=True)]


def _table_marked():
    try:
        MarkerItem.get(keys.CREDITS_MARKER_PK, keys.CREDITS_MARKER_SK, consistent_read=True)
        return True
    except MarkerItem.DoesNotExist:
        return False


def _as_before_the_markers(org_ids):
    """The table as a release before the markers left it: no note marked, no table marker."""
    for org_id in org_ids:
        for marker in CreditLeftItem.query(keys.org_pk(org_id), CreditLeftItem.sk.startswith(keys.CREDIT_LEFT_PREFIX)):
            marker.delete()
    MarkerItem(keys.CREDITS_MARKER_PK, keys.CREDITS_MARKER_SK).delete()


def _credit_lines(world, org, period_end):
    invoice = next(i for i in world.call("GET", "/invoices", org.master).json_body["items"]
                   if i["period_end"] == period_end)
    lines = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["lines"]
    return invoice, [line["amount_cents"] for line in lines if line["amount_cents"] < 0]


def test_a_note_is_marked_in_its_collection_while_something_is_left_and_unmarked_when_used_up(world, clock):
    operator = world.operator()
    [(org, november)] = _billed(world, clock, operator, ending_exchange=True)
    total = november["total_cents"]

    note = _grant(world, operator, november["id"], total)  # more than December's invoice will be
    assert _markers(org.id) == [(november["id"], note["id"])]
    # The billing worker's one read of the collection carries it.
    assert world.deps.subscriptions.for_billing(org.id, sp(2026, 12, 10).date()).credits_left == \
        [(november["id"], note["id"])]

    clock.now = sp(2026, 12, 11, 9)
    world.billing_run(operator, "2026-12")
    december, used = _credit_lines(world, org, "2026-12-10")
    assert december["total_cents"] == 0 and used  # the credit covered December
    left = world.deps.invoices.credit_note(november["id"], note["id"]).remaining_cents
    assert left == total + sum(used) > 0
    assert _markers(org.id) == [(november["id"], note["id"])]  # something left: still marked

    clock.now = sp(2027, 1, 11, 9)
    world.billing_run(operator, "2027-01")
    _, used_in_january = _credit_lines(world, org, "2027-01-10")
    assert used_in_january == [-left]
    assert world.deps.invoices.credit_note(november["id"], note["id"]).remaining_cents == 0
    assert _markers(org.id) == []  # used up: gone with the transaction that used it


def test_a_run_tells_its_workers_to_read_the_collection_only_once_the_table_is_marked(world, clock):
    sent = []

    class Recording:
        def send_batch(self, messages, correlation_ids=None):
            sent.extend(messages)

    org = world.organization(closing_day=10, items=())
    world.accept_contract(org)
    world.deps.clock = FixedClock(sp(2026, 11, 11, 9))
    real, world.deps.billing_queue = world.deps.billing_queue, Recording()
    try:
        shard = keys.closing_shard(org.id)
        message = {"kind": "bill_shard", "run_id": "run-a", "shard": shard, "closing_dates": ["2026-11-10"]}
        billing.bill_shard(world.deps, message)
        MarkerItem(keys.CREDITS_MARKER_PK, keys.CREDITS_MARKER_SK).delete()
        billing.bill_shard(world.deps, {**message, "run_id": "run-b"})
    finally:
        world.deps.billing_queue = real

    [marked, unmarked] = [m for m in sent if m["organization_id"] == org.id]
    assert marked["credits_in_collection"] is True
    assert "credits_in_collection" not in unmarked


def test_a_note_from_before_the_markers_is_applied_through_the_index_until_the_backfill(world, clock):
    operator = world.operator()
    [(org, november)] = _billed(world, clock, operator)
    note = _grant(world, operator, november["id"], 5000)
    _as_before_the_markers([org.id])
    assert _markers(org.id) == [] and not _table_marked()

    clock.now = sp(2026, 12, 11, 9)
    world.billing_run(operator, "2026-12")

    _, used = _credit_lines(world, org, "2026-12-10")
    assert used == [-5000]  # not missed: the workers queried the index
    assert world.deps.invoices.credit_note(november["id"], note["id"]).remaining_cents == 0


def test_the_backfill_marks_the_notes_left_then_marks_the_table_on_a_pass_with_nothing_to_mark(world, clock):
    operator = world.operator()
    (first, first_invoice), (second, second_invoice), (third, _) = _billed(world, clock, operator, 3)  # third: no note
    left = _grant(world, operator, first_invoice["id"], 5000)
    other = _grant(world, operator, second_invoice["id"], 3000)
    _as_before_the_markers([first.id, second.id])

    done = backfill_credit_markers(world.deps)

    assert (done["open_notes"], done["marked_now"], done["failed"], done["marked"]) == (2, 2, 0, False)
    assert done["organizations"] >= 3
    assert _markers(first.id) == [(first_invoice["id"], left["id"])]
    assert _markers(second.id) == [(second_invoice["id"], other["id"])] and _markers(third.id) == []
    # The pass that marked some does not mark the table: an older Lambda may still save a note unmarked.
    assert not _table_marked()

    again = backfill_credit_markers(world.deps)

    assert (again["open_notes"], again["marked_now"], again["marked"]) == (2, 0, True)
    assert _table_marked()
    # From now on a run's workers read the markers, and still apply both notes.
    clock.now = sp(2026, 12, 11, 9)
    world.billing_run(operator, "2026-12")
    assert _credit_lines(world, first, "2026-12-10")[1] == [-5000]
    assert _credit_lines(world, second, "2026-12-10")[1] == [-3000]
    assert _markers(first.id) == [] and _markers(second.id) == []


def test_the_backfill_never_marks_a_note_that_changed_since_it_was_read(world, clock):
    operator = world.operator()
    [(org, november)] = _billed(world, clock, operator)
    note = _grant(world, operator, november["id"], 5000)
    _as_before_the_markers([org.id])
    [read] = world.deps.invoices.credits_left(org.id)
    stale = replace(read, version=read.version + 1)  # as if read before a change nobody made: refused

    assert world.deps.invoices.mark_credit_left(stale) == "changed"
    assert _markers(org.id) == []
    assert world.deps.invoices.mark_credit_left(read) == "marked"
    assert world.deps.invoices.mark_credit_left(read) == "present"  # already there: written once
    assert _markers(org.id) == [(november["id"], note["id"])]


def _without_index_keys(invoice_id, note_id):
    """The note as the credit index no longer has it (only the collection's marker knows it)."""
    item = CreditNoteItem.get(keys.invoice_pk(invoice_id), keys.credit_note_sk(note_id), consistent_read=True)
    item.update(actions=[CreditNoteItem.gsi1pk.remove(), CreditNoteItem.gsi1sk.remove()])


def test_a_run_s_workers_apply_the_notes_their_collection_holds_not_the_index_s(world, clock):
    # The index and the collection made to disagree: a run (whose messages say the table is marked)
    # applies what the collection holds.
    operator = world.operator()
    [(org, november)] = _billed(world, clock, operator)
    note = _grant(world, operator, november["id"], 5000)
    _without_index_keys(november["id"], note["id"])
    assert world.deps.invoices.credits_left(org.id) == []

    clock.now = sp(2026, 12, 11, 9)
    world.billing_run(operator, "2026-12")

    assert _credit_lines(world, org, "2026-12-10")[1] == [-5000]
    assert _markers(org.id) == []


def test_a_marker_left_on_a_note_used_up_by_older_code_is_dropped_when_read(world, clock):
    operator = world.operator()
    [(org, november)] = _billed(world, clock, operator)
    note = _grant(world, operator, november["id"], 5000)
    # Code before the markers used it up without deleting its marker.
    item = CreditNoteItem.get(keys.invoice_pk(november["id"]), keys.credit_note_sk(note["id"]), consistent_read=True)
    item.update(actions=[CreditNoteItem.remaining_cents.set(0), CreditNoteItem.version.add(1),
                         CreditNoteItem.gsi1pk.remove(), CreditNoteItem.gsi1sk.remove()])
    assert _markers(org.id) == [(november["id"], note["id"])]

    clock.now = sp(2026, 12, 11, 9)
    world.billing_run(operator, "2026-12")

    assert _credit_lines(world, org, "2026-12-10")[1] == []  # nothing applied twice
    assert _markers(org.id) == []  # and not read again next month


def test_a_note_changed_under_the_backfill_keeps_the_table_unmarked_until_a_pass_finds_it_marked(
        world, clock, monkeypatch):
    operator = world.operator()
    [(org, november)] = _billed(world, clock, operator)
    note = _grant(world, operator, november["id"], 5000)
    _as_before_the_markers([org.id])
    read_notes = world.deps.invoices.credits_left

    def read_then_changed(organization_id):
        notes = read_notes(organization_id)
        # Older code gives part of it back (or uses some) between the pass's read and its write.
        for n in notes:
            CreditNoteItem.get(keys.invoice_pk(n.invoice_id), keys.credit_note_sk(n.id)).update(
                actions=[CreditNoteItem.version.add(1)])
        return notes

    monkeypatch.setattr(world.deps.invoices, "credits_left", read_then_changed)
    done = backfill_credit_markers(world.deps)
    monkeypatch.undo()

    assert (done["open_notes"], done["marked_now"], done["changed"], done["marked"]) == (1, 0, 1, False)
    assert _markers(org.id) == [] and not _table_marked()
    # The next pass reads it again, marks it; the one after marks the table.
    assert backfill_credit_markers(world.deps)["marked_now"] == 1 and not _table_marked()
    assert backfill_credit_markers(world.deps)["marked"] is True and _table_marked()
    assert _markers(org.id) == [(november["id"], note["id"])]


def test_the_deploy_s_pass_never_marks_the_table_and_says_whether_it_is(world, clock):
    operator = world.operator()
    [(org, november)] = _billed(world, clock, operator)
    _grant(world, operator, november["id"], 5000)
    _as_before_the_markers([org.id])
    backfill_credit_markers(world.deps)  # marks the note

    done = backfill_credit_markers(world.deps, may_mark=False)

    assert (done["marked_now"], done["marked"]) == (0, False) and not _table_marked()
    backfill_credit_markers(world.deps)
    assert backfill_credit_markers(world.deps, may_mark=False)["marked"] is True


def test_a_failed_organisation_keeps_the_table_unmarked(world, clock, monkeypatch):
    operator = world.operator()
    _billed(world, clock, operator)
    _as_before_the_markers([])

    def unavailable(organization_id):
        raise RuntimeError("throttled")

    monkeypatch.setattr(world.deps.invoices, "credits_left", unavailable)
    done = backfill_credit_markers(world.deps)

    assert done["failed"] >= 1 and done["marked"] is False and not _table_marked()


def test_the_backfill_command_marks_the_notes_of_the_table_it_names(world, clock, capsys):
    import json

    from infra import backfill_credit_markers

    operator = world.operator()
    [(org, november)] = _billed(world, clock, operator)
    note = _grant(world, operator, november["id"], 5000)
    _as_before_the_markers([org.id])
    settings = world.deps.settings
    capsys.readouterr()

    code = backfill_credit_markers.main(["--table", settings.table_name, "--region", settings.region])

    printed = json.loads(capsys.readouterr().out.splitlines()[-1])  # after the logs of the world's setup
    assert code == 0 and (printed["marked_now"], printed["failed"], printed["marked"]) == (1, 0, False)
    assert _markers(org.id) == [(november["id"], note["id"])]
