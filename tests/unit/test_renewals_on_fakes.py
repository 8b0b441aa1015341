"""The daily renewal job on hand-written fakes. `renewals.renew_due` says what it needs
(`RenewalDeps`: the clock, the subscriptions, the provisioning queue), so a test hands it just
those, in memory: no moto, no container (cosmicpython's `FakeRepository`)."""
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Dict, List, Tuple

from chalicelib.domain import error_codes as codes
from chalicelib.domain import subscriptions as rules
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.proration import Segment
from chalicelib.domain.subscriptions import PendingChange, QuantityChange, SeatWindow, Subscription
from chalicelib.services import renewals

RENEWAL_DAY = date(2027, 11, 11)
NOW = datetime(2027, 11, 11, 3, 5, tzinfo=timezone.utc)  # just after midnight in São Paulo


class FakeSubscriptions:
    """The four calls the renewal job makes of `SubscriptionRepository`, on dicts; `save` keeps
    the optimistic lock (a stale version is refused) and the audit entries it was given."""

    def __init__(self, subscriptions: List[Subscription], changes: List[QuantityChange] = ()):
        self.subscriptions: Dict[Tuple[str, str], Subscription] = {(s.organization_id, s.id): s for s in subscriptions}
        self.changes: Dict[str, QuantityChange] = {c.id: c for c in changes}
        self.audit: List[AuditEntry] = []

    def renewing_on(self, day: date) -> List[Tuple[str, str]]:
        return [key for key, sub in self.subscriptions.items() if sub.renews_on == day]

    def get(self, organization_id: str, subscription_id: str) -> Subscription:
        if (organization_id, subscription_id) not in self.subscriptions:
            raise codes.SUBSCRIPTION_NOT_FOUND()
        return self.subscriptions[(organization_id, subscription_id)]

    def get_change(self, organization_id: str, subscription_id: str, change_id: str) -> QuantityChange:
        return self.changes[change_id]

    def save(self, writes, changes, audit, *, new_changes=(), created=(), cart_lines_to_clear=()) -> None:
        for sub, expected_version in writes:
            if self.subscriptions[(sub.organization_id, sub.id)].version != expected_version:
                raise codes.VERSION_CONFLICT()
        for sub, _ in writes:
            self.subscriptions[(sub.organization_id, sub.id)] = sub
        self.changes.update({c.id: c for c in list(changes) + list(new_changes)})
        self.audit.extend(audit)


class FakeQueue:
    def __init__(self):
        self.sent: List[dict] = []

    def send(self, message: dict, delay_seconds: int = 0) -> str:
        self.sent.append(message)
        return f"message-{len(self.sent)}"


@dataclass
class FakeRenewalDeps:
    """Exactly `renewals.RenewalDeps`: nothing else of the container."""

    clock: FixedClock
    subscriptions: FakeSubscriptions
    provisioning_queue: FakeQueue


def subscription(quantity=10, auto_renew=True, pending_change=None) -> Subscription:
    bought = date(2026, 11, 11)
    return Subscription(id="sub-1", organization_id="org-1", sku="CFQ7TTC0LF8Q", name="Microsoft 365 E3",
                        family="Microsoft 365", term="P1Y", billing_frequency="monthly", status=rules.ACTIVE,
                        quantity=quantity, auto_renew=auto_renew, started_on=bought, renews_on=RENEWAL_DAY,
                        timeline=[Segment(bought, quantity)],
                        windows=[SeatWindow(datetime(2026, 11, 11, 15, tzinfo=timezone.utc), quantity)],
                        pending_change=pending_change, provider_subscription_id="provider-1", version=4)


def scheduled_reduction(to_quantity: int) -> QuantityChange:
    return QuantityChange(id="change-1", subscription_id="sub-1", organization_id="org-1", kind="quantity",
                          from_quantity=10, to_quantity=to_quantity, requested_at="2027-10-01T12:00:00+00:00",
                          requested_by="user-1", applies=rules.APPLIES_AT_RENEWAL, status=rules.CHANGE_SCHEDULED,
                          reason="reducao_de_custos", effective_on=RENEWAL_DAY)


def world(sub: Subscription, changes: List[QuantityChange] = ()) -> FakeRenewalDeps:
    return FakeRenewalDeps(FixedClock(NOW), FakeSubscriptions([sub], changes), FakeQueue())


def apply_change_message(change_id: str) -> dict:
    return {"kind": "apply_change", "organization_id": "org-1", "subscription_id": "sub-1", "change_id": change_id}


def test_a_subscription_renewing_today_starts_its_next_term_with_nothing_sent_to_the_provider():
    deps = world(subscription())

    assert renewals.renew_due(deps, RENEWAL_DAY) == 1

    renewed = deps.subscriptions.get("org-1", "sub-1")
    assert (renewed.renews_on, renewed.quantity, renewed.version) == (date(2028, 11, 11), 10, 5)
    assert renewed.windows[-1] == SeatWindow(NOW, 10)  # every seat of the new term may be cancelled for a while
    assert [(e.action, e.before, e.after) for e in deps.subscriptions.audit] == [
        ("subscription.renewed", {"renews_on": "2027-11-11"}, {"renews_on": "2028-11-11", "scheduled_quantity": None})]
    assert deps.provisioning_queue.sent == []


def test_a_reduction_scheduled_for_the_renewal_is_queued_for_the_provider_when_the_term_starts():
    reduction = scheduled_reduction(to_quantity=6)
    deps = world(subscription(pending_change=PendingChange("change-1", 6, reduction.requested_at, "user-1",
                                                           rules.APPLIES_AT_RENEWAL)), [reduction])

    renewals.renew_due(deps, RENEWAL_DAY)

    assert deps.provisioning_queue.sent == [apply_change_message("change-1")]
    assert deps.subscriptions.changes["change-1"] == replace(reduction, status=rules.CHANGE_PENDING,
                                                             applies=rules.APPLIES_NOW)
    assert deps.subscriptions.get("org-1", "sub-1").pending_change.applies == rules.APPLIES_NOW
    assert deps.subscriptions.audit[0].after == {"renews_on": "2028-11-11", "scheduled_quantity": 6}


def test_a_subscription_not_renewing_automatically_lapses_to_zero_through_the_provisioning_queue():
    deps = world(subscription(auto_renew=False))

    renewals.renew_due(deps, RENEWAL_DAY)

    lapsed = deps.subscriptions.get("org-1", "sub-1")
    expiry = deps.subscriptions.changes[lapsed.pending_change.change_id]
    assert (expiry.kind, expiry.from_quantity, expiry.to_quantity, expiry.status) == (
        "expiry", 10, 0, rules.CHANGE_PENDING)
    assert lapsed.renews_on is None
    assert deps.provisioning_queue.sent == [apply_change_message(expiry.id)]


def test_running_the_job_again_the_same_day_renews_nothing_twice():
    deps = world(subscription())
    renewals.renew_due(deps, RENEWAL_DAY)

    assert renewals.renew_due(deps, RENEWAL_DAY) == 0
    assert deps.subscriptions.get("org-1", "sub-1").version == 5 and len(deps.subscriptions.audit) == 1


def test_a_renewal_day_the_job_missed_is_caught_up_by_the_next_run():
    deps = world(subscription())

    assert renewals.renew_due(deps, date(2027, 11, 13)) == 1
    assert deps.subscriptions.get("org-1", "sub-1").renews_on == date(2028, 11, 11)
