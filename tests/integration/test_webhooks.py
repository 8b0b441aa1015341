"""Webhooks for the customer's ERP: endpoints registered by the Master (or an operator acting for the
organisation) with a URL that must reach a public address, events signed with the secret shown once,
delivered at least once with the same event id, retried for 24 hours, never to a private address
(checked at registration and again before every POST). Every refusal writes nothing."""
import hashlib
import hmac
import json
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chalicelib.domain.roles import Role
from chalicelib.storage import keys
from chalicelib.storage.models import WebhookCountItem, WebhookEndpointItem

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
