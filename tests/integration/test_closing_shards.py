"""The sharded closing-day index (issue #22 §4): a contract sits in its shard, sorted by its closing
day, while it has something to bill; a run queues one message per shard, each handled by a billing
worker that reads its contracts in one query, queues them and counts them once; the run is complete
only once every shard has counted; the contracts written before the shards are billed from the
unsharded partitions until the backfill moves them, once, without moving their version, and marks
that none is left (then the runs stop reading those partitions)."""
import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

import boto3
import pytest

from chalicelib.domain import contract as contract_rules
from chalicelib.domain.audit import SYSTEM
from chalicelib.domain.clock import FixedClock
from chalicelib.services import audit, billing, billing_watch
from chalicelib.services.closing_shards import backfill_closing_shards
from chalicelib.storage import keys
from chalicelib.storage.models import MarkerItem
from tests.support import billable_organizations, sp

NOVEMBER_10 = "2026-11-10"


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 11, 9))  # the day after the 10 Nov closing
    return world.deps.clock


def table(world):
    return boto3.client("dynamodb", region_name=world.deps.settings.region), world.deps.settings.table_name


def stored_contract(world, organization_id):
    dynamodb, name = table(world)
    return dynamodb.get_item(TableName=name, ConsistentRead=True, Key={
        "pk": {"S": keys.org_pk(organization_id)}, "sk": {"S": keys.CONTRACT_SK}})["Item"]


def index_key(world, organization_id):
    return stored_contract(world, organization_id).get("gsi1pk", {}).get("S")


def index_keys(world, organization_id):
    item = stored_contract(world, organization_id)
    return item.get("gsi1pk", {}).get("S"), item.get("gsi1sk", {}).get("S")


def sharded(organization_id, day=10):
    """The index keys the storage writes: the organisation's shard, sorted by its closing day."""
    return f"CLOSINGS#{shard_of(organization_id):02d}", f"{day:02d}#ORG#{organization_id}"


def written_before_the_shards(world, organization_id, day=10):
    """The contract as the code before the shards left it: in the unsharded partition of its day,
    in a table the backfill has not marked (a table created since is marked at its creation)."""
    dynamodb, name = table(world)
    dynamodb.update_item(TableName=name, Key={"pk": {"S": keys.org_pk(organization_id)}, "sk": {"S": keys.CONTRACT_SK}},
                         UpdateExpression="SET gsi1pk = :legacy, gsi1sk = :org",
                         ExpressionAttributeValues={":legacy": {"S": f"CLOSING#{day:02d}"},
                                                    ":org": {"S": f"ORG#{organization_id}"}})
    dynamodb.delete_item(TableName=name, Key={"pk": {"S": keys.CLOSING_INDEX_MARKER_PK},
                                              "sk": {"S": keys.CLOSING_INDEX_MARKER_SK}})


class IndexQueries:
    """Every query of the closing-day index, by partition."""

    def __init__(self, monkeypatch):
        from chalicelib.storage.models import ContractItem

        self.partitions, self.conditions = [], []
        index, real = ContractItem.by_closing_day, ContractItem.by_closing_day.query

        def query(partition, *args, **kwargs):
            self.partitions.append(partition)
            condition = args[0] if args else kwargs.get("range_key_condition")
            self.conditions.append(None if condition is None else str(condition))
            return real(partition, *args, **kwargs)

        monkeypatch.setattr(index, "query", query)


def shard_of(organization_id):
    return keys.closing_shard(organization_id)


def organizations_in_two_shards(world, count=4):
    """`count` billable organisations closing on the 10th, at least two of them in different shards."""
    organization_ids = billable_organizations(world.deps, count)
    while len({shard_of(o) for o in organization_ids}) < 2:  # 1 chance in 32**(count-1): made again
        organization_ids += billable_organizations(world.deps, 1)
    return organization_ids


class HeldQueue:
    """The billing queue with the run's shard messages held back (the test delivers them), the
    rest sent as usual."""

    def __init__(self, queue):
        self._queue, self.shards, self.contracts = queue, [], []
        self.queue_name = queue.queue_name

    def send(self, message, delay_seconds=0):
        return self._queue.send(message, delay_seconds)

    def send_batch(self, messages, correlation_ids=None):
        self.shards += [m for m in messages if m["kind"] == "bill_shard"]
        others = [m for m in messages if m["kind"] != "bill_shard"]
        self.contracts += others
        if others:
            self._queue.send_batch(others, correlation_ids)

    def change_visibility(self, receipt_handle, seconds):
        self._queue.change_visibility(receipt_handle, seconds)


@pytest.fixture
def held(world):
    real = world.deps.billing_queue
    world.deps.billing_queue = HeldQueue(real)
    yield world.deps.billing_queue
    world.deps.billing_queue = real


def invoices_of(world, organization_ids):
    return {o: world.deps.invoices.invoice_for_period(o, sp(2026, 11, 10).date()) for o in organization_ids}


def test_a_contract_sits_in_its_shard_of_its_closing_day_moves_with_it_and_leaves_with_nothing_to_bill(world, clock):
    org = world.active_organization(closing_day=10)
    shard = shard_of(org.id)
    assert index_keys(world, org.id) == sharded(org.id, 10)
    assert 0 <= shard < keys.CLOSING_SHARDS

    contracts = world.deps.contracts
    contract = contracts.get(org.id)
    moved = replace(contract, closing_day=20, version=contract.version + 1)
    contracts.save(moved, expected_version=contract.version, audit=audit.entry(
        world.deps, SYSTEM, org.id, "contract.scheduled_change_applied", f"contract:{contract.id}"))
    assert index_keys(world, org.id) == sharded(org.id, 20)  # the same shard: it follows the organisation
    assert contracts.billable_in_shard(shard, [10]) == [] and contracts.billable_in_shard(shard, [20]) == [(20, org.id)]

    ended = replace(moved, status=contract_rules.TERMINATED, terminated_at="2026-11-11T12:00:00+00:00",
                    final_invoice_due=False, version=moved.version + 1)
    contracts.save(ended, expected_version=moved.version, audit=audit.entry(
        world.deps, SYSTEM, org.id, "contract.terminated", f"contract:{contract.id}"))
    assert index_key(world, org.id) is None
    assert all(contracts.billable_in_shard(s, [10, 20]) == [] for s in keys.closing_shards())


def test_the_shard_of_an_organisation_is_the_same_in_every_process():
    """Every Lambda must agree: no salted `hash()`."""
    code = "from chalicelib.storage import keys; print(keys.closing_shard('01jd8k2m4n6p8q0r2s4t6v8w0y'))"
    shards = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip() for seed in ("1", "2", "3")}
    assert shards == {str(keys.closing_shard("01jd8k2m4n6p8q0r2s4t6v8w0y"))}


def test_a_run_bills_the_contracts_of_every_shard_and_of_the_unsharded_partition(world, clock):
    organization_ids = organizations_in_two_shards(world)
    older = organization_ids[0]
    written_before_the_shards(world, older)

    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])
    world.drain_queues()

    invoices = invoices_of(world, organization_ids)
    assert all(invoice is not None for invoice in invoices.values())
    progress = billing.run_progress(world.deps, run_id)
    assert (progress["contracts_queued"], progress["invoices_issued"], progress["complete"]) == (
        len(organization_ids), len(organization_ids), True)
    # The run's answer is as before: the shards are its own business.
    assert "shards_expected" not in progress and "shards_reported" not in progress
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == len(organization_ids)


def test_the_run_queues_one_message_per_shard_and_each_worker_only_its_shard(world, clock, held):
    organization_ids = organizations_in_two_shards(world)
    written_before_the_shards(world, organization_ids[0])

    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])

    assert held.contracts == []  # nothing read nor queued by the run itself
    assert [m["shard"] for m in held.shards] == list(range(keys.CLOSING_SHARDS))  # the unsharded partition: none
    assert all(m["closing_dates"] == [NOVEMBER_10] and m["run_id"] == run_id for m in held.shards)
    by_shard = {m["shard"]: m for m in held.shards}
    one = next(shard_of(o) for o in organization_ids if shard_of(o) != shard_of(organization_ids[0]))
    assert billing.bill_shard(world.deps, by_shard[one]) == len([o for o in organization_ids if shard_of(o) == one])
    assert {m["organization_id"] for m in held.contracts} == {o for o in organization_ids if shard_of(o) == one}
    # The older contract, still in the unsharded partition, is read by its own shard's message.
    older = shard_of(organization_ids[0])
    assert billing.bill_shard(world.deps, by_shard[older]) == len([o for o in organization_ids if shard_of(o) == older])
    assert organization_ids[0] in {m["organization_id"] for m in held.contracts}
    assert len(held.contracts) == len({m["organization_id"] for m in held.contracts})  # each once


def test_a_shard_message_delivered_twice_queues_and_counts_its_contracts_once(world, clock, held):
    [organization_id] = billable_organizations(world.deps, 1)
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])
    mine = next(m for m in held.shards if m["shard"] == shard_of(organization_id))

    assert billing.bill_shard(world.deps, mine) == 1
    assert billing.bill_shard(world.deps, mine) == 0  # SQS delivers at least once: already counted
    world.drain_queues()

    assert [m["organization_id"] for m in held.contracts] == [organization_id]
    assert billing.run_progress(world.deps, run_id)["contracts_queued"] == 1
    assert world.deps.invoices.invoice_for_period(organization_id, sp(2026, 11, 10).date()) is not None
    assert len([m for m in world.outbox() if "Fatura nº" in m["Subject"]]) == 1  # the contract, billed once


def test_a_run_is_complete_only_once_every_shard_has_counted_its_contracts(world, clock, held):
    [organization_id] = billable_organizations(world.deps, 1)
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])
    mine = next(m for m in held.shards if m["shard"] == shard_of(organization_id))
    assert billing.run_progress(world.deps, run_id)["complete"] is False  # nothing counted yet

    billing.bill_shard(world.deps, mine)
    world.drain_queues()
    progress = billing.run_progress(world.deps, run_id)
    # Its one contract is billed, but 31 shards have not said what they hold.
    assert (progress["contracts_queued"], progress["processed"], progress["complete"]) == (1, 1, False)

    # The morning watch reports it: a shard message dead-lettered means contracts never queued.
    clock.now = sp(2026, 11, 12, 9)
    [unfinished] = billing_watch.unfinished_runs(world.deps)
    assert (unfinished["run_id"], unfinished["missing"], unfinished["shards_missing"]) == (run_id, 0,
                                                                                          keys.CLOSING_SHARDS - 1)

    for message in held.shards:
        if message is not mine:
            billing.bill_shard(world.deps, message)
    assert billing.run_progress(world.deps, run_id)["complete"] is True
    assert billing_watch.unfinished_runs(world.deps) == []


def test_a_run_of_no_closing_day_queues_nothing_and_is_complete(world, clock, held):
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[])
    assert held.shards == [] and billing.run_progress(world.deps, run_id)["complete"] is True


def test_the_backfill_moves_an_older_contract_once_keeps_its_version_and_leaves_one_that_left_the_index(
        world, clock, monkeypatch):
    older, leaving = billable_organizations(world.deps, 2)
    for organization_id in (older, leaving):
        written_before_the_shards(world, organization_id)
    version_before = stored_contract(world, older)["version"]
    read_by_a_form = world.deps.contracts.get(older)  # a user's form open on the contract

    # Between the backfill's read and its move, the other contract leaves the index (terminated).
    real = world.deps.contracts.in_legacy_closing
    dynamodb, name = table(world)

    def read_then_one_leaves(day):
        found = real(day)
        if leaving in found:
            dynamodb.update_item(TableName=name, UpdateExpression="REMOVE gsi1pk, gsi1sk", Key={
                "pk": {"S": keys.org_pk(leaving)}, "sk": {"S": keys.CONTRACT_SK}})
        return found

    monkeypatch.setattr(world.deps.contracts, "in_legacy_closing", read_then_one_leaves)
    assert not world.deps.contracts.unsharded_closing_moved()
    assert backfill_closing_shards(world.deps) == {"found": 2, "moved": 1, "skipped": 1, "failed": 0,
                                                   "marked": False}
    monkeypatch.undo()

    assert index_keys(world, older) == sharded(older)
    assert stored_contract(world, older)["version"] == version_before
    assert index_key(world, leaving) is None  # not put back in the index
    # Not marked by the pass that moved some (a Lambda on the old code may still write there): the next.
    assert not world.deps.contracts.unsharded_closing_moved()
    assert backfill_closing_shards(world.deps) == {"found": 0, "moved": 0, "skipped": 0, "failed": 0,
                                                   "marked": True}
    assert world.deps.contracts.unsharded_closing_moved()

    # The open form saves as if nothing had happened (no 409), and the contract stays in its shard.
    world.deps.contracts.save(replace(read_by_a_form, billing_contacts=["contas@bench.example"],
                                      version=read_by_a_form.version + 1),
                              expected_version=read_by_a_form.version, audit=audit.entry(
                                  world.deps, SYSTEM, older, "contract.updated", f"contract:{read_by_a_form.id}"))
    assert index_keys(world, older) == sharded(older)

    # Billed from its shard, once.
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])
    world.drain_queues()
    assert billing.run_progress(world.deps, run_id)["contracts_queued"] == 1
    assert world.deps.invoices.invoice_for_period(older, sp(2026, 11, 10).date()) is not None


def test_the_backfill_runs_from_the_command_line_against_the_stage_table(world, clock, capsys):
    from infra import backfill_closing_shards as command

    [older] = billable_organizations(world.deps, 1)
    written_before_the_shards(world, older)
    settings = world.deps.settings

    assert command.main(["--table", settings.table_name, "--region", settings.region]) == 0
    assert json.loads(capsys.readouterr().out) == {"found": 1, "moved": 1, "skipped": 0, "failed": 0,
                                                   "marked": False}
    assert index_keys(world, older) == sharded(older)
    assert command.main(["--table", settings.table_name, "--region", settings.region]) == 0
    assert json.loads(capsys.readouterr().out) == {"found": 0, "moved": 0, "skipped": 0, "failed": 0,
                                                   "marked": True}


def test_the_daily_schedule_fans_out_through_the_billing_worker(world, clock):
    """The shard messages go through the same SQS worker as the contracts' (jobs/billing.py)."""
    organization_ids = organizations_in_two_shards(world, 3)
    clock.now = sp(2026, 11, 11, 0) + timedelta(minutes=10)
    world.client.lambda_.invoke("start_billing_run", world.client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]))
    world.drain_queues()
    assert all(invoice is not None for invoice in invoices_of(world, organization_ids).values())
    [run] = world.deps.billing_runs.recent(limit=5, next_token=None)[0]
    assert (run["contracts_queued"], run["shards_expected"], run["shards_reported"]) == (
        len(organization_ids), keys.CLOSING_SHARDS, keys.CLOSING_SHARDS)  # 3, or 4 if 3 fell in one shard


@pytest.mark.parametrize("move, order", [
    ("before the read", "as queued"),      # was: its shard read before, the unsharded one after: missed
    ("after the read", "last one first"),  # was: read from both partitions: queued twice, never complete
])
def test_a_contract_moved_to_its_shard_while_the_run_reads_is_billed_once(world, clock, held, monkeypatch,
                                                                          move, order):
    from chalicelib.storage.models import ContractItem

    organization_ids = organizations_in_two_shards(world, 2)
    older = organization_ids[0]
    written_before_the_shards(world, older)
    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])

    # The backfill moves the older contract while the unsharded partition is being read.
    index = ContractItem.by_closing_day
    real_query = index.query

    armed = []  # only while the older contract's own shard reads: the others drop it anyway

    def query_while_it_moves(partition, *args, **kwargs):
        moving = armed and partition == "CLOSING#10" and index_key(world, older) == "CLOSING#10"
        if moving and move == "before the read":
            world.deps.contracts.move_to_shard(older, 10)
        found = list(real_query(partition, *args, **kwargs))
        if moving and move == "after the read":
            world.deps.contracts.move_to_shard(older, 10)
        return found

    monkeypatch.setattr(index, "query", query_while_it_moves)
    for message in (held.shards if order == "as queued" else held.shards[::-1]):
        armed[:] = [True] if message["shard"] == shard_of(older) else []
        billing.bill_shard(world.deps, message)
    monkeypatch.undo()
    assert index_keys(world, older) == sharded(older)  # it did move
    world.drain_queues()

    assert sorted(m["organization_id"] for m in held.contracts) == sorted(organization_ids)
    assert all(invoice is not None for invoice in invoices_of(world, organization_ids).values())
    progress = billing.run_progress(world.deps, run_id)
    # Two contracts, or more when the first ones fell in one shard (organizations_in_two_shards).
    n = len(organization_ids)
    assert (progress["contracts_queued"], progress["processed"], progress["complete"]) == (n, n, True)


def test_a_shard_message_redelivered_after_it_counted_does_not_queue_a_contract_added_since(world, clock, held):
    [organization_id] = billable_organizations(world.deps, 1)
    dynamodb, name = table(world)
    key = {"pk": {"S": keys.org_pk(organization_id)}, "sk": {"S": keys.CONTRACT_SK}}
    in_index = stored_contract(world, organization_id)["gsi1pk"]
    dynamodb.update_item(TableName=name, Key=key, UpdateExpression="REMOVE gsi1pk")  # not there yet

    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])
    mine = next(m for m in held.shards if m["shard"] == shard_of(organization_id))
    assert billing.bill_shard(world.deps, mine) == 0

    # The contract reaches the index, then SQS delivers the shard message again.
    dynamodb.update_item(TableName=name, Key=key, UpdateExpression="SET gsi1pk = :k",
                         ExpressionAttributeValues={":k": in_index})
    assert billing.bill_shard(world.deps, mine) == 0
    assert held.contracts == []

    for message in held.shards:
        if message is not mine:
            billing.bill_shard(world.deps, message)
    world.drain_queues()
    progress = billing.run_progress(world.deps, run_id)
    assert (progress["contracts_queued"], progress["processed"], progress["complete"]) == (0, 0, True)
    assert world.deps.invoices.invoice_for_period(organization_id, sp(2026, 11, 10).date()) is None


def test_a_backfill_that_leaves_a_contract_behind_does_not_mark_the_index_and_runs_still_find_it(
        world, clock, monkeypatch):
    organization_ids = organizations_in_two_shards(world, 2)
    stuck = organization_ids[0]
    written_before_the_shards(world, stuck)
    real_move = world.deps.contracts.move_to_shard

    def refused(organization_id, day):
        if organization_id == stuck:
            raise RuntimeError("throttled")
        return real_move(organization_id, day)

    monkeypatch.setattr(world.deps.contracts, "move_to_shard", refused)
    assert backfill_closing_shards(world.deps) == {"found": 1, "moved": 0, "skipped": 0, "failed": 1,
                                                   "marked": False}
    monkeypatch.undo()
    assert not world.deps.contracts.unsharded_closing_moved()

    run_id = billing.start_run(world.deps, SYSTEM, period="2026-11", closing_days=[10])
    world.drain_queues()
    assert all(invoice is not None for invoice in invoices_of(world, organization_ids).values())
    assert billing.run_progress(world.deps, run_id)["complete"] is True


def test_a_month_run_reads_each_shard_once_and_queues_each_contract_with_its_own_closing_date(
        world, clock, held, monkeypatch):
    """An operator's run of a whole month (28 closing days): one query per shard, not one per day."""
    on_10 = organizations_in_two_shards(world, 2)
    [on_20] = billable_organizations(world.deps, 1, closing_day=20)
    queries = IndexQueries(monkeypatch)

    billing.start_run(world.deps, SYSTEM, period="2026-10", closing_days=billing.CLOSING_DAYS)
    for message in held.shards:
        billing.bill_shard(world.deps, message)

    assert sorted(queries.partitions) == sorted(keys.closing_shard_pk(s) for s in keys.closing_shards())
    assert sorted((m["organization_id"], m["closing_date"]) for m in held.contracts) == sorted(
        [(o, "2026-10-10") for o in on_10] + [(on_20, "2026-10-20")])


def test_until_the_backfill_has_marked_the_index_each_shard_also_reads_the_unsharded_partitions(
        world, clock, held, monkeypatch):
    [organization_id] = billable_organizations(world.deps, 1)
    written_before_the_shards(world, organization_id)
    queries = IndexQueries(monkeypatch)
    billing.start_run(world.deps, SYSTEM, period="2026-10", closing_days=[9, 10])
    mine = next(m for m in held.shards if m["shard"] == shard_of(organization_id))

    assert billing.bill_shard(world.deps, mine) == 1
    assert queries.partitions == ["CLOSING#09", "CLOSING#10", keys.closing_shard_pk(mine["shard"])]
    assert [(m["organization_id"], m["closing_date"]) for m in held.contracts] == [(organization_id, "2026-10-10")]


def test_a_day_run_reads_its_day_by_key_and_queues_no_contract_of_another_day_in_the_same_shard(
        world, clock, held, monkeypatch):
    [on_10] = billable_organizations(world.deps, 1)
    on_20 = billable_organizations(world.deps, 1, closing_day=20)[0]
    while shard_of(on_20) != shard_of(on_10):  # one of the same shard, on another day
        on_20 = billable_organizations(world.deps, 1, closing_day=20)[0]
    queries = IndexQueries(monkeypatch)

    billing.start_run(world.deps, SYSTEM, period="2026-10", closing_days=[10])
    mine = next(m for m in held.shards if m["shard"] == shard_of(on_10))
    assert billing.bill_shard(world.deps, mine) == 1
    assert [m["organization_id"] for m in held.contracts] == [on_10]
    assert queries.conditions == ["begins_with (gsi1sk, {'S': '10#'})"]  # by key, not read whole and filtered

    billing.start_run(world.deps, SYSTEM, period="2026-10", closing_days=[9, 10, 11])  # a few days
    for message in held.shards:
        billing.bill_shard(world.deps, message)
    assert sorted(m["organization_id"] for m in held.contracts) == [on_10, on_10]


def test_the_deploy_s_pass_never_marks_the_index_even_with_nothing_to_move(world, clock):
    # Right after the stack update a Lambda may still run the code before the shards: the marker
    # waits for the operator's rerun a quarter-hour later; the pass says whether the table has it.
    MarkerItem(keys.CLOSING_INDEX_MARKER_PK, keys.CLOSING_INDEX_MARKER_SK).delete()

    assert backfill_closing_shards(world.deps, may_mark=False) == {"found": 0, "moved": 0, "skipped": 0,
                                                                   "failed": 0, "marked": False}
    assert not world.deps.contracts.unsharded_closing_moved()
    assert backfill_closing_shards(world.deps)["marked"] is True
    assert backfill_closing_shards(world.deps, may_mark=False)["marked"] is True
