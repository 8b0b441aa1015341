"""Webhooks' pure rules: which addresses may be called, which audit entries become which events
(with stable ids), and when a failed delivery is tried again."""
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.domain import webhooks as rules
from chalicelib.domain.audit import AuditEntry
from chalicelib.domain.errors import DomainError


def _entry(action, target, after=None, before=None, entry_id="01ENTRY"):
    return AuditEntry(id=entry_id, organization_id="org1", at="2026-11-11T12:00:00+00:00", actor_id="system",
                      actor_email=None, action=action, target=target, before=before, after=after)


@pytest.mark.parametrize("address", ["10.0.0.5", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255",
                                     "::1", "fd00::1", "fe80::1", "::ffff:10.0.0.1", "::ffff:169.254.169.254",
                                     "64:ff9b::a00:5", "2002:a00:5::1", "::", "fe80::1%eth0", "não-é-ip",
                                     "fec0::1", "feff:ffff::1"])  # IPv6 site-local (fec0::/10)
def test_non_public_addresses_are_refused(address):
    assert rules.refused_address([address], loopback_allowed=False) == address


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_pass(address):
    assert rules.refused_address([address], loopback_allowed=False) is None


def test_loopback_passes_only_where_allowed_and_one_bad_address_of_many_refuses():
    assert rules.refused_address(["127.0.0.1", "::1"], loopback_allowed=True) is None
    assert rules.refused_address(["127.0.0.1", "10.0.0.1"], loopback_allowed=True) == "10.0.0.1"
    assert rules.refused_address(["8.8.8.8", "192.168.0.1"], loopback_allowed=False) == "192.168.0.1"


def test_urls_are_taken_apart_and_bad_ones_refused():
    target = rules.parse_url("https://erp.example.com:8443/a/b?x=1", allow_loopback=False)
    assert (target.scheme, target.host, target.port, target.path) == ("https", "erp.example.com", 8443, "/a/b?x=1")
    assert rules.parse_url("http://[::1]:9000/", allow_loopback=True).host == "::1"
    for url in ("http://localhost/", "https://a:b@erp.example.com/", "https://erp.example.com/#x",
                "https://erp.example.com/ a", "gopher://erp.example.com/", "https://erp.example.com:99999/"):
        with pytest.raises(DomainError):
            rules.parse_url(url, allow_loopback=False)


def test_a_payment_that_settles_the_invoice_is_invoice_paid_and_a_partial_one_is_nothing():
    subject = {"inv1": {"invoice_id": "inv1", "number": 7, "status": "paid", "total_cents": 1000, "paid_cents": 1000,
                        "due_date": "2026-11-25", "period_start": "2026-10-11", "period_end": "2026-11-10",
                        "currency": "BRL"}}
    [event] = rules.events_for(_entry("invoice.payment_recorded", "invoice:inv1", after={"status": "paid"}), subject)
    assert (event.type, event.data) == ("invoice.paid", subject["inv1"])
    assert rules.events_for(_entry("invoice.payment_recorded", "invoice:inv1", after={"status": "open"}), subject) == ()
    # The same entry always makes the same event id; another entry, another.
    again = rules.events_for(_entry("invoice.payment_recorded", "invoice:inv1", after={"status": "paid"}), subject)
    assert again[0].id == event.id and event.id.startswith("evt_")
    other = rules.events_for(_entry("invoice.payment_recorded", "invoice:inv1", after={"status": "paid"},
                                    entry_id="02OTHER"), subject)
    assert other[0].id != event.id


def test_a_checkout_reports_each_subscription_it_bought():
    after = [{"sku": "A", "quantity": 3, "subscription_id": "s1"}, {"sku": "B", "quantity": 1, "subscription_id": "s2"}]
    events = rules.events_for(_entry("cart.checked_out", "organization:org1", after=after),
                              {"s1": {"subscription_id": "s1", "sku": "A", "quantity": 3, "status": "pending"}})
    assert [(e.type, e.data["subscription_id"], e.data["change"]) for e in events] == [
        ("subscription.changed", "s1", "purchased"), ("subscription.changed", "s2", "purchased")]
    assert events[0].data["status"] == "pending" and events[1].data == {
        "subscription_id": "s2", "sku": "B", "quantity": 1, "status": None, "change": "purchased"}
    assert len({e.id for e in events}) == 2


def test_which_actions_are_events():
    assert rules.events_for(_entry("ticket.status_changed", "ticket:t1", after={"status": "resolved"}))[0].data == {
        "ticket_id": "t1", "number": None, "status": "resolved", "change": "status_changed"}
    for action, target in (("ticket.attachment_uploaded", "ticket:t1"), ("subscription.suspend_failed", "subscription:s"),
                           ("user.invited", "user:u"), ("webhook.created", "webhook:w"),
                           ("invoice.second_copy", "invoice:i"), ("contract.accepted", "contract:c")):
        assert rules.events_for(_entry(action, target, after={})) == (), action


def test_retries_back_off_and_end_24_hours_after_the_first_attempt():
    first = datetime(2026, 11, 11, 12, tzinfo=timezone.utc)
    now, attempts, schedule = first, 1, []
    while (due := rules.next_attempt(first, attempts, now)) is not None:
        schedule.append(due - first)
        now, attempts = due, attempts + 1
    assert schedule == [timedelta(minutes=1), timedelta(minutes=6), timedelta(minutes=36),
                        timedelta(hours=2, minutes=36), timedelta(hours=7, minutes=36),
                        timedelta(hours=17, minutes=36), timedelta(hours=24)]


def test_the_signature_is_hmac_sha256_of_the_timestamp_dot_body():
    import hashlib
    import hmac

    header = rules.signature("whsec_x", 1700000000, b'{"a":1}')
    assert header == "t=1700000000,v1=" + hmac.new(b"whsec_x", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()


def test_an_entry_adds_one_item_to_its_transaction_however_many_events_it_reports():
    """A checkout of 25 lines is 76 items already; a transaction holds 100: its 25 events ride in one."""
    import json

    from chalicelib.storage.repositories import append_audit

    class RecordingTransaction:
        def __init__(self):
            self.saved = []

        def save(self, model, condition=None, label="item"):
            self.saved.append(model)

    after = [{"sku": f"SKU{n}", "quantity": 1, "subscription_id": f"s{n}"} for n in range(25)]
    tx = RecordingTransaction()
    append_audit(tx, _entry("cart.checked_out", "organization:org1", after=after))
    audit_item, event_item = tx.saved
    assert event_item.pk.startswith("EVENT#evt_") and event_item.gsi1pk == "EVENTS#PENDING"
    bodies = [json.loads(e["payload"]) for e in json.loads(event_item.events)]
    assert bodies[0] == json.loads(event_item.payload)  # the item is named by its first event
    assert [b["data"]["subscription_id"] for b in bodies] == [f"s{n}" for n in range(25)]
    assert len({b["id"] for b in bodies}) == 25

    tx = RecordingTransaction()
    append_audit(tx, _entry("user.invited", "user:u1"))
    assert len(tx.saved) == 1  # no event: no extra item
