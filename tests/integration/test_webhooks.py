"""Webhooks for the customer's ERP: endpoints registered by the Master (or an operator acting for the
organisation) with a URL that must reach a public address, events signed with the secret shown once,
delivered at least once with the same event id, retried for 24 hours, never to a private address
(checked at registration and again before every POST). Every refusal writes nothing."""
import hashlib
import hmac
import json
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.domain.roles import Role
from chalicelib.storage import keys
from chalicelib.services import webhooks
from chalicelib.storage.models import WebhookCountItem, WebhookEndpointItem, WebhookEventItem

PUBLIC_IP = "93.184.216.34"


class Receiver:
    """An HTTP server on 127.0.0.1 that records every request and answers the statuses it is told
    (the last one repeated)."""

    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)
        self.requests = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                          "body": body})
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/erp/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def dns(world, monkeypatch):
    """The resolver, faked: a name → its addresses (unknown names do not resolve)."""
    table = {"erp.cliente.example": [PUBLIC_IP]}

    def resolve(host, port):
        if host not in table:
            raise OSError("Name or service not known")
        return list(table[host])

    monkeypatch.setattr(world.deps.webhook_http, "resolver", resolve)
    return table


def _endpoints_written(world, org_id):
    return list(WebhookEndpointItem.query(keys.org_webhooks_pk(org_id),
                                          WebhookEndpointItem.sk.startswith(keys.WEBHOOK_PREFIX)))


def _audit(world, org_id, action):
    entries, _ = world.deps.audit.list(org_id, since="2000-01-01T00:00:00+00:00", until="2100-01-01T00:00:00+00:00",
                                       limit=100, next_token=None)
    return [e for e in entries if e.action == action]


def _register(world, account, url="https://erp.cliente.example/hooks/csp", events=("invoice.issued",), **extra):
    return world.call("POST", "/webhooks", account, {"url": url, "events": list(events), **extra})


# --- milestone 1: the management routes ---------------------------------------------------------

def test_the_master_registers_an_endpoint_and_sees_its_secret_only_in_that_answer(world, dns):
    org = world.organization()
    created = _register(world, org.master, events=["invoice.paid", "invoice.issued"], description="ERP Protheus")
    assert created.status_code == 201, created.json_body
    body = created.json_body
    assert body["url"] == "https://erp.cliente.example/hooks/csp"
    assert body["events"] == ["invoice.issued", "invoice.paid"]
    assert body["description"] == "ERP Protheus" and body["status"] == "active"
    assert body["secret"].startswith("whsec_") and len(body["secret"]) >= 6 + 43

    listed = world.call("GET", "/webhooks", org.master).json_body["items"]
    assert [e["id"] for e in listed] == [body["id"]] and "secret" not in listed[0]
    one = world.call("GET", f"/webhooks/{body['id']}", org.master).json_body
    assert one == {k: v for k, v in body.items() if k != "secret"}

    [entry] = _audit(world, org.id, "webhook.created")
    assert entry.target == f"webhook:{body['id']}" and entry.actor_id == org.master.user.id
    assert body["secret"] not in json.dumps(entry.after) and entry.after["url"] == body["url"]


def test_an_operator_acting_for_the_organisation_registers_and_removes_an_endpoint(world, dns):
    org = world.organization()
    operator = world.operator()
    acting = {"X-Organization-Id": org.id}
    created = world.call("POST", "/webhooks", operator, {"url": "https://erp.cliente.example/h",
                                                         "events": ["ticket.updated"]}, headers=acting)
    assert created.status_code == 201, created.json_body
    endpoint_id = created.json_body["id"]
    assert [e["id"] for e in world.call("GET", "/webhooks", org.master).json_body["items"]] == [endpoint_id]

    removed = world.call("DELETE", f"/webhooks/{endpoint_id}", operator, headers=acting)
    assert removed.status_code == 204
    assert world.call("GET", "/webhooks", org.master).json_body["items"] == []
    assert world.call("GET", f"/webhooks/{endpoint_id}", org.master).status_code == 404
    [entry] = _audit(world, org.id, "webhook.deleted")
    assert entry.actor_id == operator.user.id and entry.before["id"] == endpoint_id
    # The slot is free again: the counter went back down.
    assert WebhookCountItem.get(keys.org_webhooks_pk(org.id), keys.WEBHOOK_COUNT_SK).count == 0


@pytest.mark.parametrize("role", [Role.ADM, Role.COBRANCA, Role.SUPORTE])
def test_other_profiles_may_not_manage_webhooks(world, dns, role):
    org = world.organization()
    account = world.user(org.id, [role])
    created = _register(world, org.master).json_body
    assert _register(world, account).status_code == 403
    assert world.call("GET", "/webhooks", account).status_code == 403
    assert world.call("DELETE", f"/webhooks/{created['id']}", account).status_code == 403
    assert world.call("POST", f"/webhooks/{created['id']}/test", account).status_code == 403
    assert len(_endpoints_written(world, org.id)) == 1


def test_another_organisations_endpoint_and_delivery_are_not_found(world, dns, receiver):
    mine, theirs = world.organization(), world.organization()
    endpoint = _register(world, theirs.master, url=receiver.url).json_body
    test = world.call("POST", f"/webhooks/{endpoint['id']}/test", theirs.master).json_body["delivery"]
    mine_endpoint = _register(world, mine.master, url=receiver.url).json_body

    for method, path in (("GET", f"/webhooks/{endpoint['id']}"), ("DELETE", f"/webhooks/{endpoint['id']}"),
                         ("GET", f"/webhooks/{endpoint['id']}/deliveries"),
                         ("POST", f"/webhooks/{endpoint['id']}/test"),
                         ("POST", f"/webhooks/{endpoint['id']}/deliveries/{test['id']}/resend"),
                         # Their delivery through my own endpoint's path.
                         ("POST", f"/webhooks/{mine_endpoint['id']}/deliveries/{test['id']}/resend")):
        answer = world.call(method, path, mine.master)
        assert answer.status_code == 404, (method, path, answer.json_body)
    assert len(_endpoints_written(world, theirs.id)) == 1
    # Only their test delivery exists: no resend, no test made by the refused calls.
    assert [d["id"] for d in world.call("GET", f"/webhooks/{endpoint['id']}/deliveries",
                                        theirs.master).json_body["items"]] == [test["id"]]
    assert world.call("GET", f"/webhooks/{mine_endpoint['id']}/deliveries", mine.master).json_body["items"] == []


@pytest.mark.parametrize("url, code", [
    ("http://erp.cliente.example/h", "webhook_url_invalid"),  # https only
    ("ftp://erp.cliente.example/h", "webhook_url_invalid"),
    ("https://user:pass@erp.cliente.example/h", "webhook_url_invalid"),
    ("https://erp.cliente.example/h#frag", "webhook_url_invalid"),
    ("https:///nohost", "webhook_url_invalid"),
    ("https://nao-existe.example/h", "webhook_url_unresolvable"),
    ("https://10.1.2.3/h", "webhook_url_not_public"),
    ("https://169.254.169.254/latest/meta-data", "webhook_url_not_public"),
    ("https://100.64.0.1/h", "webhook_url_not_public"),
    ("https://[fd00::1]/h", "webhook_url_not_public"),
    ("https://[fe80::1]/h", "webhook_url_not_public"),
    ("https://[::ffff:10.0.0.1]/h", "webhook_url_not_public"),
    ("https://0.0.0.0/h", "webhook_url_not_public"),
    ("https://224.0.0.1/h", "webhook_url_not_public"),
    ("https://interno.cliente.example/h", "webhook_url_not_public"),
    ("https://metadata.cliente.example/h", "webhook_url_not_public"),
    ("https://misto.cliente.example/h", "webhook_url_not_public"),
])
def test_a_url_that_is_not_https_to_a_public_address_is_refused_and_nothing_is_written(world, dns, url, code):
    dns["interno.cliente.example"] = ["10.0.0.5"]
    dns["metadata.cliente.example"] = ["169.254.169.254"]
    dns["misto.cliente.example"] = [PUBLIC_IP, "192.168.0.10"]  # one private address is enough
    org = world.organization()
    answer = _register(world, org.master, url=url)
    assert answer.status_code == 422, answer.json_body
    assert answer.json_body["error"]["code"] == code
    assert _endpoints_written(world, org.id) == [] and _audit(world, org.id, "webhook.created") == []
    # What a name resolves to inside is never told (no DNS oracle): not in the message nor details.
    for private in ("10.0.0.5", "169.254.169.254", "192.168.0.10"):
        assert private not in json.dumps(answer.json_body)


def test_loopback_is_refused_when_the_setting_is_off(world, dns, receiver):
    world.deps.settings = replace(world.deps.settings, webhooks_allow_loopback=False)
    dns["localhost"] = ["127.0.0.1"]
    org = world.organization()
    for url in (receiver.url, "http://localhost:8080/h", "https://localhost/h", "https://127.0.0.1/h",
                "https://[::1]/h"):
        answer = _register(world, org.master, url=url)
        assert answer.status_code == 422, url
        assert answer.json_body["error"]["code"] in ("webhook_url_invalid", "webhook_url_not_public")
    assert _endpoints_written(world, org.id) == []


def test_a_public_name_resolving_to_loopback_is_refused_even_where_loopback_is_allowed(world, dns):
    assert world.deps.settings.webhooks_allow_loopback
    dns["sneaky.cliente.example"] = ["127.0.0.1"]
    org = world.organization()
    answer = _register(world, org.master, url="https://sneaky.cliente.example/h")
    assert answer.json_body["error"]["code"] == "webhook_url_not_public"
    assert _endpoints_written(world, org.id) == []


def test_loopback_is_refused_by_the_prod_settings():
    from chalicelib import settings

    with pytest.raises(ValueError):
        settings.from_environ({"CSP_STAGE": "prod", "WEBHOOKS_ALLOW_LOOPBACK": "true"})
    assert settings.from_environ({"CSP_STAGE": "prod"}).webhooks_allow_loopback is False


@pytest.mark.parametrize("body, status, code", [
    ({"url": "https://erp.cliente.example/h", "events": []}, 422, "webhook_events_required"),
    ({"url": "https://erp.cliente.example/h", "events": ["invoice.issued", "invoice.exploded"]}, 422,
     "webhook_event_unknown"),
    ({"url": "https://erp.cliente.example/h", "events": ["webhook.test"]}, 422, "webhook_event_unknown"),
    ({"url": "https://erp.cliente.example/h"}, 400, "required"),
    ({"events": ["invoice.issued"]}, 400, "required"),
    ({"url": "https://erp.cliente.example/" + "a" * 2000, "events": ["invoice.issued"]}, 400, "too_long"),
    ({"url": "https://erp.cliente.example/h", "events": ["invoice.issued"], "secret": "mine"}, 400, "unknown_field"),
    ({"url": "https://erp.cliente.example/h", "events": "invoice.issued"}, 400, "invalid_type"),
])
def test_bad_input_is_refused_and_nothing_is_written(world, dns, body, status, code):
    org = world.organization()
    answer = world.call("POST", "/webhooks", org.master, body)
    assert answer.status_code == status, answer.json_body
    assert answer.json_body["error"]["code"] == code
    assert _endpoints_written(world, org.id) == [] and _audit(world, org.id, "webhook.created") == []
    # What a name resolves to inside is never told (no DNS oracle): not in the message nor details.
    for private in ("10.0.0.5", "169.254.169.254", "192.168.0.10"):
        assert private not in json.dumps(answer.json_body)


def test_an_organisation_has_at_most_ten_endpoints(world, dns):
    org = world.organization()
    for n in range(10):
        assert _register(world, org.master, url=f"https://erp.cliente.example/h{n}").status_code == 201
    refused = _register(world, org.master, url="https://erp.cliente.example/h11")
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "webhook_limit_reached"
    assert len(_endpoints_written(world, org.id)) == 10 and len(_audit(world, org.id, "webhook.created")) == 10
    # Removing one frees a slot.
    first = world.call("GET", "/webhooks", org.master).json_body["items"][0]
    assert world.call("DELETE", f"/webhooks/{first['id']}", org.master).status_code == 204
    assert _register(world, org.master, url="https://erp.cliente.example/h11").status_code == 201


def test_the_test_event_is_delivered_signed_and_listed_and_a_resend_carries_the_same_event(world, receiver):
    org = world.organization()
    created = _register(world, org.master, url=receiver.url).json_body
    accepted = world.call("POST", f"/webhooks/{created['id']}/test", org.master)
    assert accepted.status_code == 202, accepted.json_body
    delivery = accepted.json_body["delivery"]
    assert delivery["event_type"] == "webhook.test" and delivery["status"] == "pending"
    world.drain_queues()

    [request] = receiver.requests
    _verify(request, created["secret"])
    event = json.loads(request["body"])
    assert event["id"] == delivery["event_id"] and event["type"] == "webhook.test"
    assert event["data"]["webhook_id"] == created["id"]
    [listed] = world.call("GET", f"/webhooks/{created['id']}/deliveries", org.master).json_body["items"]
    assert listed["id"] == delivery["id"] and listed["status"] == "delivered" and listed["attempts"] == 1
    assert listed["last_status_code"] == 200 and listed["delivered_at"]

    again = world.call("POST", f"/webhooks/{created['id']}/deliveries/{delivery['id']}/resend", org.master)
    assert again.status_code == 202
    world.drain_queues()
    assert len(receiver.requests) == 2
    assert receiver.requests[1]["body"] == request["body"]  # the same bytes, the same event id
    assert receiver.requests[1]["headers"]["x-csp-event-id"] == event["id"]
    _verify(receiver.requests[1], created["secret"])
    listed = world.call("GET", f"/webhooks/{created['id']}/deliveries", org.master).json_body["items"]
    assert [d["id"] for d in listed] == [again.json_body["delivery"]["id"], delivery["id"]]  # newest first


def _verify(request, secret):
    """What the integrator does: recompute the HMAC over "<t>.<raw body>" with the secret."""
    headers = request["headers"]
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "csp-portal-webhooks/1"
    parts = dict(p.split("=", 1) for p in headers["x-csp-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(parts["v1"], expected)
    event = json.loads(request["body"])
    assert headers["x-csp-event-id"] == event["id"] and headers["x-csp-event-type"] == event["type"]
    return event


def test_deliveries_are_listed_page_after_page(world, receiver):
    org = world.organization()
    created = _register(world, org.master, url=receiver.url).json_body
    made = [world.call("POST", f"/webhooks/{created['id']}/test", org.master).json_body["delivery"]["id"]
            for _ in range(3)]
    first = world.call("GET", f"/webhooks/{created['id']}/deliveries?limit=2", org.master).json_body
    assert len(first["items"]) == 2 and first["next_token"]
    second = world.call("GET", f"/webhooks/{created['id']}/deliveries?limit=2&next_token={first['next_token']}",
                        org.master).json_body
    assert sorted(d["id"] for d in first["items"] + second["items"]) == sorted(made)


# --- milestone 2: events from the outbox, delivered at least once, never to a private address -----

@pytest.fixture
def clock(world):
    from chalicelib.domain.clock import FixedClock
    from tests.support import sp

    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def _pending_events(org_id, event_type=None):
    return [e for e in WebhookEventItem.pending.query(keys.PENDING_EVENTS_PK)
            if e.organization_id == org_id and (event_type is None or e.type == event_type)]


def _delivery(world, delivery_id):
    return world.deps.webhooks.delivery(delivery_id)


def _deliveries(world, endpoint_id):
    items, _ = world.deps.webhooks.deliveries(endpoint_id, limit=100, next_token=None)
    return items


def _run_webhooks(world):
    """What the schedule and the queue do: the dispatcher, then the worker until the queue is empty."""
    counts = webhooks.dispatch(world.deps)
    world.drain_queues()
    return counts


def test_an_invoice_issued_by_a_real_billing_reaches_the_erp_signed_with_the_secret(world, clock, receiver):
    org = world.organization(closing_day=10)
    created = _register(world, org.master, url=receiver.url, events=["invoice.issued", "invoice.paid"]).json_body
    # A second organisation's endpoint hears nothing of the first's invoice.
    other = world.organization()
    other_endpoint = _register(world, other.master, url=receiver.url).json_body
    from tests.support import billed_in_november

    _, _, invoice = billed_in_november(world, clock, org=org)  # this organisation, with its endpoint

    [pending] = _pending_events(org.id, "invoice.issued")
    assert receiver.requests == []  # nothing leaves before the dispatcher runs
    counts = _run_webhooks(world)
    assert counts["deliveries"] == 1
    assert _pending_events(org.id) == []

    [request] = receiver.requests
    event = _verify(request, created["secret"])
    assert event["id"] == pending.id and event["id"].startswith("evt_") and event["type"] == "invoice.issued"
    assert event["created_at"].endswith("+00:00")
    assert event["data"] == {
        "invoice_id": invoice.id, "number": invoice.number, "status": invoice.status,
        "total_cents": invoice.total_cents, "paid_cents": invoice.paid_cents,
        "due_date": invoice.due_date.isoformat(), "period_start": invoice.period_start.isoformat(),
        "period_end": invoice.period_end.isoformat(), "currency": "BRL"}
    assert int(dict(p.split("=", 1) for p in request["headers"]["x-csp-signature"].split(","))["t"]) == \
        int(clock.now.timestamp())
    [delivery] = _deliveries(world, created["id"])
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    assert _deliveries(world, other_endpoint["id"]) == []

    # The dispatcher again: the event is gone, nothing is sent twice.
    assert _run_webhooks(world) == {"events": 0, "deliveries": 0}
    assert len(receiver.requests) == 1


def test_the_event_is_written_in_the_invoice_s_transaction_and_a_failed_issue_writes_none(world, clock):
    from chalicelib.storage.models import InvoiceGuardItem
    from tests.support import sp

    org = world.organization(closing_day=10)
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    # The period is taken (another invoice's guard): the issue's transaction is refused whole.
    InvoiceGuardItem(keys.org_pk(org.id), keys.invoice_guard_sk("2026-11-10"), invoice_id="outra").save()
    clock.now = sp(2026, 11, 11, 9)
    operator = world.operator()
    assert world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"}).status_code == 202
    world.drain_queues()
    assert world.call("GET", "/invoices", org.master).json_body["items"] == []
    assert _pending_events(org.id, "invoice.issued") == []

    InvoiceGuardItem(keys.org_pk(org.id), keys.invoice_guard_sk("2026-11-10")).delete()
    assert world.call("POST", "/backoffice/billing-runs", operator, {"period": "2026-11"}).status_code == 202
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    [event] = _pending_events(org.id, "invoice.issued")
    assert json.loads(event.payload)["data"]["invoice_id"] == invoice["id"]


def test_a_receiver_answering_500_then_200_gets_the_event_twice_with_the_same_id(world, clock):
    receiver = Receiver(statuses=(500, 200))
    try:
        org = world.organization()
        created = _register(world, org.master, url=receiver.url, events=["ticket.updated"]).json_body
        ticket = world.ticket(org)
        _run_webhooks(world)
        [delivery] = _deliveries(world, created["id"])
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("retrying", 1, 500)
        assert delivery.next_attempt_at == (clock.now + timedelta(minutes=1)).isoformat()
        assert len(receiver.requests) == 1

        # Before its time, the message waits (re-queued); at its time, it is sent again.
        world.make_visible()
        world.drain_queues()
        assert len(receiver.requests) == 1
        clock.advance(minutes=1)
        world.make_visible()
        world.drain_queues()
        first, second = receiver.requests
        assert second["body"] == first["body"]
        event = _verify(second, created["secret"])
        assert event["type"] == "ticket.updated" and event["data"]["ticket_id"] == ticket.id
        assert event["data"]["change"] == "opened" and event["data"]["number"] == ticket.number
        delivery = _delivery(world, delivery.id)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 2, 200)

        clock.advance(hours=1)
        world.make_visible()
        _run_webhooks(world)
        assert len(receiver.requests) == 2  # delivered once more only
    finally:
        receiver.close()


def test_two_copies_of_a_delivery_message_post_once(world, clock, receiver, monkeypatch):
    from tests.support import in_parallel, reading_together

    org = world.organization()
    created = _register(world, org.master, url=receiver.url, events=["ticket.updated"]).json_body
    world.ticket(org)
    webhooks.dispatch(world.deps)
    [delivery] = _deliveries(world, created["id"])
    message = {"delivery_id": delivery.id, "attempt": 1}
    # Both copies read the delivery before either claims it.
    reading_together(monkeypatch, world.deps.webhooks, "delivery", 2)
    outcomes = in_parallel(2, lambda n: webhooks.attempt(world.deps, dict(message)))
    assert sorted(outcomes)[0] == "delivered" and outcomes.count("delivered") == 1
    world.drain_queues()  # the queued copy and the loser's re-queue: both find it delivered
    world.make_visible()
    world.drain_queues()
    assert len(receiver.requests) == 1
    assert _delivery(world, delivery.id).attempts == 1


def test_a_second_dispatcher_does_not_fan_an_event_out_twice(world, clock, receiver):
    org = world.organization()
    created = _register(world, org.master, url=receiver.url, events=["ticket.updated"]).json_body
    world.ticket(org)
    [event] = _pending_events(org.id)
    endpoint = world.deps.webhooks.endpoint(org.id, created["id"])
    # What a second dispatcher that read the same event does, before the first clears it.
    assert webhooks.fan_out(world.deps, endpoint, event.id, event.type, event.payload, "2026-10-01T15:00:00+00:00")
    assert not webhooks.fan_out(world.deps, endpoint, event.id, event.type, event.payload, "2026-10-01T15:00:00+00:00")
    _run_webhooks(world)
    assert len(_deliveries(world, created["id"])) == 1 and len(receiver.requests) == 1


def test_an_event_of_an_organisation_without_endpoints_is_just_cleared(world, clock, receiver):
    import boto3

    quiet, listening = world.organization(), world.organization()
    endpoint = _register(world, listening.master, url=receiver.url, events=["invoice.paid"]).json_body
    world.ticket(quiet)
    world.ticket(listening)  # an event its endpoint does not subscribe to
    assert len(_pending_events(quiet.id)) == 1 and len(_pending_events(listening.id)) == 1
    assert webhooks.dispatch(world.deps) == {"events": 2, "deliveries": 0}
    assert _pending_events(quiet.id) == [] and _pending_events(listening.id) == []
    sqs = boto3.client("sqs", region_name=world.deps.settings.region)
    url = sqs.get_queue_url(QueueName=world.deps.settings.webhooks_queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesDelayed"] == "0"
    assert _deliveries(world, endpoint["id"]) == [] and receiver.requests == []


@pytest.mark.parametrize("new_address", ["10.0.0.5", "169.254.169.254"])
def test_a_name_that_resolves_to_a_private_address_after_registration_gets_nothing(world, clock, dns, monkeypatch,
                                                                                     new_address):
    org = world.organization()
    created = _register(world, org.master, url="https://erp.cliente.example/h", events=["ticket.updated"]).json_body
    connections = []
    monkeypatch.setattr(world.deps.webhook_http, "_send", lambda *args: connections.append(args))
    dns["erp.cliente.example"] = [new_address]  # DNS changed after registration
    world.ticket(org)
    _run_webhooks(world)
    assert connections == []  # no connection was even opened
    [delivery] = _deliveries(world, created["id"])
    assert delivery.status == "retrying" and delivery.last_status_code is None
    assert "webhook_url_not_public" in delivery.last_error and len(delivery.last_error) <= 200
    assert new_address not in delivery.last_error  # the customer sees no internal address
    listed = world.call("GET", f"/webhooks/{created['id']}/deliveries", org.master).json_body
    assert new_address not in json.dumps(listed)


def test_the_connection_goes_to_the_vetted_address_with_the_host_s_name(world, clock, dns, receiver):
    port = receiver.server.server_address[1]
    dns["localhost"] = ["127.0.0.1"]
    org = world.organization()
    created = _register(world, org.master, url=f"http://localhost:{port}/erp?conta=7").json_body
    world.call("POST", f"/webhooks/{created['id']}/test", org.master)
    world.drain_queues()
    [request] = receiver.requests
    assert request["headers"]["host"] == f"localhost:{port}" and request["path"] == "/erp?conta=7"


def test_a_day_of_failures_ends_in_failed(world, clock):
    receiver = Receiver(statuses=(503,))
    try:
        org = world.organization()
        created = _register(world, org.master, url=receiver.url, events=["ticket.updated"]).json_body
        world.ticket(org)
        started = clock.now
        _run_webhooks(world)
        [delivery] = _deliveries(world, created["id"])
        while delivery.status == "retrying":
            clock.now = datetime.fromisoformat(delivery.next_attempt_at)
            world.make_visible()
            world.drain_queues()
            delivery = _delivery(world, delivery.id)
        assert delivery.status == "failed" and delivery.last_status_code == 503
        # 0, 1 min, 6 min, 36 min, 2h36, 7h36, 17h36, then the last at 24 h.
        assert delivery.attempts == len(receiver.requests) == 8
        assert clock.now == started + timedelta(hours=24)
        assert len({r["headers"]["x-csp-event-id"] for r in receiver.requests}) == 1
        listed = world.call("GET", f"/webhooks/{created['id']}/deliveries", org.master).json_body["items"][0]
        assert (listed["status"], listed["next_attempt_at"], listed["attempts"]) == ("failed", None, 8)
    finally:
        receiver.close()


def test_removing_an_endpoint_stops_its_pending_deliveries(world, clock):
    receiver = Receiver(statuses=(500,))
    try:
        org = world.organization()
        created = _register(world, org.master, url=receiver.url, events=["ticket.updated"]).json_body
        world.ticket(org)
        _run_webhooks(world)
        [delivery] = _deliveries(world, created["id"])
        assert delivery.status == "retrying"
        assert world.call("DELETE", f"/webhooks/{created['id']}", org.master).status_code == 204
        clock.advance(minutes=2)
        world.make_visible()
        world.drain_queues()
        assert len(receiver.requests) == 1
        assert _delivery(world, delivery.id).status == "failed"
    finally:
        receiver.close()


def _tls_receiver(tmp_path, name):
    """An HTTPS server on 127.0.0.1 whose certificate names `name` (self-signed: its own CA file)."""
    import datetime as dt
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    receiver = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    receiver.sni = []
    context.sni_callback = lambda sock, server_name, ctx: receiver.sni.append(server_name)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    return receiver, str(cert_file)


def test_https_goes_to_the_vetted_address_with_the_host_s_name_in_sni_and_the_certificate_check(tmp_path):
    from chalicelib.adapters.webhook_http import WebhookHttp

    receiver, ca = _tls_receiver(tmp_path, "erp.cliente.example")
    impostor, impostor_ca = _tls_receiver(tmp_path, "outro.example")
    try:
        # A name that (for this test) resolves to the loopback, where the TLS servers listen.
        http = WebhookHttp(ca_bundle=ca, resolver=lambda host, port: ["127.0.0.1"])
        target = rules_target("https://erp.cliente.example:%d/h" % receiver.server.server_address[1])
        outcome = http._send(target, "127.0.0.1", b"{}", {"Content-Type": "application/json"})
        assert (outcome.status_code, outcome.delivered) == (200, True)
        assert receiver.sni == ["erp.cliente.example"]
        assert receiver.requests[0]["headers"]["host"] == "erp.cliente.example:%d" % receiver.server.server_address[1]

        # The vetted address answers with another name's certificate: refused, nothing sent.
        http = WebhookHttp(ca_bundle=impostor_ca)
        target = rules_target("https://erp.cliente.example:%d/h" % impostor.server.server_address[1])
        outcome = http._send(target, "127.0.0.1", b"{}", {})
        assert outcome.status_code is None and not outcome.delivered and "doesn't match" in outcome.error
        assert impostor.sni == ["erp.cliente.example"]
        assert impostor.requests == []
    finally:
        receiver.close()
        impostor.close()


def rules_target(url):
    from chalicelib.domain import webhooks as rules

    return rules.parse_url(url, allow_loopback=False)


# --- review fixes: one outbox item per audit entry (a full cart fits its transaction) -----------

def _many_products(world, count):
    from chalicelib.domain.catalog import Product, with_price
    from chalicelib.domain.clock import local_day

    world.seed_catalog()
    skus = [f"BULK-{n:02d}" for n in range(count)]
    for sku in skus:
        world.deps.catalog.put(with_price(Product(sku=sku, name=f"Produto {sku}", family="Microsoft 365", term="P1M",
                                                  billing_frequency="monthly", offer_id=f"offer-{sku}"),
                                          1000, local_day(world.deps.clock())))
    return skus


def _changed_requests(receiver):
    return [json.loads(r["body"]) for r in receiver.requests if json.loads(r["body"])["type"] == "subscription.changed"]


def test_a_full_cart_checks_out_and_each_line_reaches_the_erp_with_its_own_stable_id(world, clock, receiver):
    from chalicelib.domain.catalog import MAX_CART_LINES

    org = world.active_organization()
    skus = _many_products(world, MAX_CART_LINES)
    created = _register(world, org.master, url=receiver.url, events=["subscription.changed"]).json_body
    for sku in skus:
        assert world.call("PUT", f"/cart/items/{sku}", org.master, {"quantity": 1}).status_code == 200
    response = world.call("POST", "/cart/checkout", org.master)
    assert response.status_code == 201, response.json_body
    [outbox] = _pending_events(org.id)  # ONE item for the entry's 25 events
    assert len(json.loads(outbox.events)) == MAX_CART_LINES
    assert webhooks.dispatch(world.deps) == {"events": MAX_CART_LINES, "deliveries": MAX_CART_LINES}
    world.drain_queues()
    bodies = _changed_requests(receiver)
    assert sorted(b["data"]["sku"] for b in bodies) == sorted(skus)
    assert {b["data"]["change"] for b in bodies} == {"purchased"}
    ids = [b["id"] for b in bodies]
    assert len(set(ids)) == MAX_CART_LINES
    # Stable: the ids are the ones the audit entry derives, whatever run fans them out.
    [entry] = _audit(world, org.id, "cart.checked_out")
    from chalicelib.domain import webhooks as rules
    assert set(ids) == {e.id for e in rules.events_for(entry)}
    assert {d.event_id for d in _deliveries(world, created["id"])} == set(ids)
    assert outbox.pk not in {e.pk for e in _pending_events(org.id)}  # it left the outbox once fanned out


def test_a_contract_accepted_with_many_items_orders_them_and_reports_each_subscription(world, clock, receiver):
    skus = _many_products(world, 25)
    org = world.organization(items=[(sku, 2) for sku in skus])
    created = _register(world, org.master, url=receiver.url, events=["subscription.changed"]).json_body
    world.accept_contract(org)
    assert sorted(s.sku for s in world.deps.subscriptions.list(org.id)) == sorted(skus)
    [outbox] = [e for e in _pending_events(org.id) if e.events and "purchased" in e.events]
    assert len(json.loads(outbox.events)) == 25
    webhooks.dispatch(world.deps)
    world.drain_queues()
    bodies = [b for b in _changed_requests(receiver) if b["data"]["change"] == "purchased"]
    assert sorted(b["data"]["sku"] for b in bodies) == sorted(skus)
    assert len({b["id"] for b in bodies}) == 25 and len(_deliveries(world, created["id"])) == 25


def test_a_replayed_creation_says_the_endpoint_exists_but_never_keeps_nor_repeats_its_secret(world, dns):
    from chalicelib.storage.models import IdempotencyItem

    org = world.organization()
    headers = {"Idempotency-Key": "novo-webhook-1"}
    body = {"url": "https://erp.cliente.example/hooks/csp", "events": ["invoice.issued"]}
    first = world.call("POST", "/webhooks", org.master, body, headers=headers)
    assert first.status_code == 201 and first.json_body["secret"].startswith("whsec_")
    again = world.call("POST", "/webhooks", org.master, body, headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json_body == {**first.json_body, "secret": None}  # shown once: the first answer only
    assert len(_endpoints_written(world, org.id)) == 1
    scope = f"{org.master.user.id}@{org.id}:POST /webhooks"
    stored = IdempotencyItem.get(keys.idempotency_pk(scope), keys.idempotency_sk("novo-webhook-1"))
    assert first.json_body["secret"] not in json.dumps(stored.attribute_values, default=str)


def test_a_receiver_trickling_its_answer_is_cut_at_the_attempt_s_deadline():
    import socket
    import time

    from chalicelib.adapters.webhook_http import WebhookHttp

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]

    def trickle():
        conn, _ = listener.accept()
        conn.recv(65536)
        try:  # a byte every 0.2 s for 6 s: each wait is short, the whole is not
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 30\r\nX-Slow: " + b"a" * 30:
                conn.sendall(bytes([byte]))
                time.sleep(0.2)
        except OSError:
            pass
        finally:
            conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    http = WebhookHttp(timeout_seconds=1, resolver=lambda host, port: ["127.0.0.1"])
    http.deadline_seconds = 1.5  # the production default is 12 s (the 10 s timeout + 2)
    started = time.monotonic()
    outcome = http.post(f"http://127.0.0.1:{port}/h", b"{}", {"Content-Type": "application/json"}, allow_loopback=True)
    elapsed = time.monotonic() - started
    listener.close()
    assert not outcome.delivered and outcome.status_code is None and "Tempo esgotado" in outcome.error
    assert elapsed < 3, elapsed
    assert WebhookHttp().deadline_seconds == 12


def test_resending_a_delivery_still_retrying_attempts_that_same_delivery_now(world, clock):
    receiver = Receiver(statuses=(500, 200))
    try:
        org = world.organization()
        created = _register(world, org.master, url=receiver.url, events=["ticket.updated"]).json_body
        world.ticket(org)
        _run_webhooks(world)
        [delivery] = _deliveries(world, created["id"])
        assert (delivery.status, delivery.attempts) == ("retrying", 1)
        answer = world.call("POST", f"/webhooks/{created['id']}/deliveries/{delivery.id}/resend", org.master)
        assert answer.status_code == 202 and answer.json_body["delivery"]["id"] == delivery.id
        world.drain_queues()  # now, not in a minute
        assert len(receiver.requests) == 2 and receiver.requests[1]["body"] == receiver.requests[0]["body"]
        [again] = _deliveries(world, created["id"])  # no parallel delivery of the same event
        assert (again.id, again.status, again.attempts) == (delivery.id, "delivered", 2)
        clock.advance(hours=1)  # the attempt queued before, once due, finds it delivered
        world.make_visible()
        world.drain_queues()
        assert len(receiver.requests) == 2 and len(_deliveries(world, created["id"])) == 1
    finally:
        receiver.close()
