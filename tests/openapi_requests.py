"""Requests built from /openapi.json: every operation, the smallest valid body for it, its path with
parameters filled in. The permission tests and the per-route benchmark walk the API with these, so
a new route is covered the day it is described."""
import itertools
import re
from datetime import date

from tests.support import ADDRESS, make_cnpj


def operations(world):
    spec = world.call("GET", "/openapi.json").json_body
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield path, method.upper(), operation


_SERIAL = itertools.count(1)

# Free-text fields whose content the API checks: a plausible value by the field's name.
_PLAUSIBLE = {
    "cnpj": lambda n: make_cnpj(7000 + n),
    "phone": lambda n: "11987654321",
    "tenant_domain": lambda n: f"empresa{n}.onmicrosoft.com",
    "website": lambda n: f"https://empresa{n}.example",
    "paid_on": lambda n: date.today().isoformat(),
    "new_password": lambda n: "Nova#Senha2026",
    "password": lambda n: "Nova#Senha2026",
    "sku": lambda n: "MS365-E3",
}
# Numbers whose smallest valid value the domain treats specially (1 licence is a reduction).
_PLAUSIBLE_NUMBERS = {"quantity": 6}


def example(schema, name: str = ""):
    """A valid value for one of our request schemas: required fields only, each the smallest that
    passes validation (emails unique, so that a new user is new); the schema's own `example` first."""
    if "example" in schema:
        return schema["example"]
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" and "city_code" in schema.get("properties", {}):
        # A customer's address: its rules (a real CEP and IBGE code) are the domain's, not the schema's.
        return dict(ADDRESS)
    if kind == "object":
        return {field: example(schema["properties"][field], field) for field in schema.get("required", [])}
    if kind == "array":
        return [example(schema["items"], name) for _ in range(max(schema.get("minItems", 1), 1))]
    if kind == "integer":
        return _PLAUSIBLE_NUMBERS.get(name, schema.get("minimum", 1))
    if kind == "boolean":
        return False
    serial = next(_SERIAL)
    if name in _PLAUSIBLE:
        return _PLAUSIBLE[name](serial)
    if schema.get("format") == "date":  # a day the route then parses (due_from, due_to)
        return date.today().isoformat()
    if "email" in name or schema.get("maxLength") == 254:
        return f"teste{serial}@exemplo.example"
    return "Teste".ljust(schema.get("minLength", 1), "x")


def body_for(operation):
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return example(content["schema"]) if content else None


def request_for(operation):
    """The body and headers of a request the route accepts: its JSON example, or, for a route taking
    a file (a ticket's attachment), a small PNG as the media type it declares."""
    files = [m for m in operation.get("requestBody", {}).get("content", {}) if m != "application/json"]
    if files:
        return b"\x89PNG\r\n\x1a\n" + b"\0" * 16, {"Content-Type": files[0]}
    return body_for(operation), {}


def success_status(operation) -> int:
    return min(int(status) for status in operation["responses"] if status.startswith("2"))


def fill(path, values, operation=None):
    """The path with its parameters, plus the operation's required query parameters."""
    target = re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)
    required = [p for p in (operation or {}).get("parameters", []) if p["in"] == "query" and p["required"]]
    if required:
        target += "?" + "&".join(f"{p['name']}={example(p['schema'])}" for p in required)
    return target


def route_objects(world, org) -> dict:
    """A real object for every path parameter, in `org` (an active organisation)."""
    import time

    from chalicelib.domain.audit import SYSTEM
    from chalicelib.domain.mail_events import BOUNCE, Suppression
    from chalicelib.domain.roles import Role
    from chalicelib.services import billing, support
    from chalicelib.services.caller import Caller

    lead = world.call("POST", "/leads", None, {
        "cnpj": make_cnpj(9001), "company_name": "Lead Ltda", "contact_name": "Lead", "phone": "11999990000",
        "email": "lead@lead.example", "existing_microsoft_customer": False}).json_body
    bounced = "devolvido@bounce.invalid"  # an address SES reported as bounced: the operator's lift finds it
    world.deps.suppressions.suppress(Suppression(email=bounced, kind=BOUNCE, since="2026-11-01T12:00:00+00:00",
                                                 event_id="route-objects"), None)
    ticket = world.ticket(org)
    attachment = support.upload_attachment(world.deps, Caller(user=org.master.user, organization_id=org.id), ticket.id,
                                           "tela.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 32, support.CUSTOMER)
    return {"user_id": world.user(org.id, [Role.ADM]).user.id, "email": bounced,
            "subscription_id": world.subscription(org, "MS365-E3", 5).id,
            "invoice_id": world.invoice(org).id, "ticket_id": ticket.id, "attachment_id": attachment["id"],
            "sku": "MS365-E3",
            "run_id": billing.start_run(world.deps, SYSTEM, period=time.strftime("%Y-%m"), closing_days=[]),
            "lead_id": lead["id"], "organization_id": org.id, "name": "app.js",
            "export_id": world.call("POST", "/privacy/exports", org.master).json_body["id"],
            "token": world.deps.bank.webhook_token(),  # the bank's webhook: its secret, so the route is reached
            **_webhook_objects(world, org)}


def _webhook_objects(world, org) -> dict:
    """Webhooks (issue #21 §3): an endpoint on the loopback (allowed in the tests) and a delivery of it."""
    webhook = world.call("POST", "/webhooks", org.master, {"url": "http://127.0.0.1:9/hook",
                                                           "events": ["invoice.issued"]}).json_body
    delivery = world.call("POST", f"/webhooks/{webhook['id']}/test", org.master).json_body["delivery"]
    return {"webhook_id": webhook["id"], "delivery_id": delivery["id"]}
