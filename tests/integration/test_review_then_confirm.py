""""Review, then confirm" is binding: the checkout buys the cart that was reviewed, the second copy
issues the boleto that was previewed, the acceptance records the text's version that was read —
or each is refused (409) with nothing written. The review never prices what the checkout refuses,
and the contract's PDF is rendered into S3 once per content."""
import pytest

from chalicelib.domain.clock import FixedClock
from tests.integration.test_documents import billed, clock as documents_clock  # noqa: F401 - the fixture
from tests.support import sp

REVIEWED_CHANGED = "O carrinho mudou desde a revisão; revise o pedido de novo."


@pytest.fixture
def org(world):
    world.deps.clock = FixedClock(sp(2026, 11, 17, 10))
    return world.active_organization(closing_day=10)


def _cart(world, org, **quantities):
    for sku, quantity in quantities.items():
        assert world.call("PUT", f"/cart/items/{sku.replace('_', '-')}", org.master,
                          {"quantity": quantity}).status_code == 200


def _subscriptions(world, org):
    return world.call("GET", "/subscriptions", org.master).json_body["items"]


# --- the checkout buys the reviewed cart -----------------------------------------------------------

def test_a_checkout_naming_the_reviewed_cart_buys_it_and_replays_with_the_same_key(world, org):
    _cart(world, org, MS365_E3=3, MS365_E5=2)
    reviewed = [{"sku": i["sku"], "quantity": i["quantity"]}
                for i in world.call("GET", "/cart/preview", org.master).json_body["items"]]
    key = {"Idempotency-Key": "checkout-revisado-1"}
    bought = world.call("POST", "/cart/checkout", org.master, {"items": list(reversed(reviewed))}, headers=key)
    assert bought.status_code == 201, bought.json_body
    assert sorted(s["sku"] for s in bought.json_body["subscriptions"]) == ["MS365-E3", "MS365-E5"]
    assert world.call("GET", "/cart", org.master).json_body["items"] == []
    again = world.call("POST", "/cart/checkout", org.master, {"items": list(reversed(reviewed))}, headers=key)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json_body == bought.json_body
    assert len(_subscriptions(world, org)) == 2


@pytest.mark.parametrize("change", ["quantity", "added", "removed"])
def test_a_cart_changed_since_the_review_is_refused_and_nothing_is_bought(world, org, change):
    _cart(world, org, MS365_E3=3, MS365_E5=2)
    reviewed = [{"sku": "MS365-E3", "quantity": 3}, {"sku": "MS365-E5", "quantity": 2}]
    if change == "quantity":  # another tab changed a quantity after the review
        _cart(world, org, MS365_E3=4)
    elif change == "added":
        _cart(world, org, INTUNE_P1=1)
    else:
        assert world.call("DELETE", "/cart/items/MS365-E5", org.master).status_code == 200
    cart_before = world.call("GET", "/cart", org.master).json_body
    refused = world.call("POST", "/cart/checkout", org.master, {"items": reviewed},
                         headers={"Idempotency-Key": f"checkout-{change}"})
    assert refused.status_code == 409
    assert refused.json_body["error"] == {**refused.json_body["error"], "code": "cart_changed_since_review",
                                          "message": REVIEWED_CHANGED}
    assert _subscriptions(world, org) == []
    assert world.call("GET", "/cart", org.master).json_body == cart_before


def test_a_cart_emptied_since_the_review_is_the_review_refusal(world, org):
    _cart(world, org, MS365_E3=1)
    assert world.call("DELETE", "/cart/items/MS365-E3", org.master).status_code == 200
    refused = world.call("POST", "/cart/checkout", org.master, {"items": [{"sku": "MS365-E3", "quantity": 1}]})
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "cart_changed_since_review"


def test_the_checkout_body_stays_optional_and_is_validated(world, org):
    _cart(world, org, MS365_E3=1)
    for body, field in (({"items": []}, "items"), ({"items": [{"sku": "MS365-E3"}]}, "items[0].quantity"),
                        ({"items": [{"sku": "x", "quantity": 1}]}, "items[0].sku"), ({"outro": 1}, "outro")):
        refused = world.call("POST", "/cart/checkout", org.master, body)
        assert refused.status_code == 400, (body, refused.json_body)
        assert refused.json_body["error"]["details"]["field"] == field
    assert _subscriptions(world, org) == []
    assert world.call("POST", "/cart/checkout", org.master).status_code == 201  # no body: the cart as it is


# --- the review never prices what the checkout refuses ------------------------------------------------

def test_an_inactive_product_is_flagged_in_the_review_outside_the_totals(world, org):
    _cart(world, org, MS365_E3=3, INTUNE_P1=10)
    operator = world.operator()
    intune = next(p for p in world.call("GET", "/backoffice/catalog/products", operator).json_body["items"]
                  if p["sku"] == "INTUNE-P1")
    fields = {k: intune[k] for k in ("name", "family", "unit_price_cents", "term", "billing_frequency")}
    assert world.call("PUT", "/backoffice/catalog/products/INTUNE-P1", operator,
                      {**fields, "active": False}).status_code == 200
    preview = world.call("GET", "/cart/preview", org.master).json_body
    assert [i["sku"] for i in preview["items"]] == ["MS365-E3"]
    assert preview["unavailable"] == [{"sku": "INTUNE-P1", "name": intune["name"], "quantity": 10,
                                       "reason": f"O produto {intune['name']} não está mais disponível."}]
    assert preview["first_charge_cents"] == preview["items"][0]["first_charge_cents"]
    assert preview["monthly_cents"] == 20710 * 3
    refused = world.call("POST", "/cart/checkout", org.master)
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "product_unavailable"
    assert _subscriptions(world, org) == []
    # Taken out of the cart, the review and the checkout agree again.
    assert world.call("DELETE", "/cart/items/INTUNE-P1", org.master).status_code == 200
    preview = world.call("GET", "/cart/preview", org.master).json_body
    assert preview["unavailable"] == [] and len(preview["items"]) == 1
    assert world.call("POST", "/cart/checkout", org.master,
                      {"items": [{"sku": "MS365-E3", "quantity": 3}]}).status_code == 201


# --- the second copy issues the previewed boleto ------------------------------------------------------

def test_the_second_copy_is_offered_once_due_even_before_the_nightly_job(world, documents_clock):  # noqa: F811
    org, invoice = billed(world, documents_clock)
    assert world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body["second_copy_available"] is False
    documents_clock.now = sp(2026, 11, 24, 10)  # due 23 Nov; the nightly job has not run
    view = world.call("GET", f"/invoices/{invoice['id']}", org.master).json_body
    assert view["status"] == "open" and view["second_copy_available"] is True
    assert world.call("GET", f"/invoices/{invoice['id']}/second-copy-preview", org.master).status_code == 200


def test_a_second_copy_naming_its_preview_is_issued_and_replays(world, documents_clock):  # noqa: F811
    org, invoice = billed(world, documents_clock)
    documents_clock.now = sp(2026, 12, 1, 10)
    preview = world.call("GET", f"/invoices/{invoice['id']}/second-copy-preview", org.master).json_body
    body = {"expected_total_cents": preview["total_cents"], "expected_due_date": preview["due_date"]}
    key = {"Idempotency-Key": "2via-revisada"}
    issued = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master, body, headers=key)
    assert issued.status_code == 201, issued.json_body
    assert issued.json_body["amount_cents"] == preview["total_cents"]
    again = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master, body, headers=key)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json_body["nosso_numero"] == issued.json_body["nosso_numero"]
    world.drain_queues()
    assert len([m for m in world.outbox() if "Segunda via" in m["Subject"]]) == 1


@pytest.mark.parametrize("stale", ["total", "due_date"])
def test_a_second_copy_whose_quote_changed_is_refused_before_the_bank(
        world, documents_clock, monkeypatch, stale):  # noqa: F811
    org, invoice = billed(world, documents_clock)
    documents_clock.now = sp(2026, 12, 1, 10)
    preview = world.call("GET", f"/invoices/{invoice['id']}/second-copy-preview", org.master).json_body
    documents_clock.now = sp(2026, 12, 2, 10)  # a day later: more interest, a later due date
    fresh = world.call("GET", f"/invoices/{invoice['id']}/second-copy-preview", org.master).json_body
    assert fresh["total_cents"] != preview["total_cents"] and fresh["due_date"] != preview["due_date"]
    old = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    calls = []
    for name in ("register", "query", "cancel"):
        real = getattr(world.deps.bank, name)
        monkeypatch.setattr(world.deps.bank, name, lambda *a, _real=real, _n=name, **k: calls.append(_n) or _real(*a, **k))
    body = ({"expected_total_cents": preview["total_cents"]} if stale == "total"
            else {"expected_total_cents": fresh["total_cents"], "expected_due_date": preview["due_date"]})
    refused = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master, body,
                         headers={"Idempotency-Key": f"2via-{stale}"})
    assert refused.status_code == 409
    assert refused.json_body["error"]["code"] == "second_copy_quote_changed"
    assert "mudou desde a prévia" in refused.json_body["error"]["message"]
    assert calls == []  # the bank was never called
    now = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    assert (now["nosso_numero"], now["replaced"]) == (old["nosso_numero"], [])
    world.drain_queues()
    assert [m for m in world.outbox() if "Segunda via" in m["Subject"]] == []
    # The fresh preview's values issue it.
    issued = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master,
                        {"expected_total_cents": fresh["total_cents"], "expected_due_date": fresh["due_date"]})
    assert issued.status_code == 201 and issued.json_body["amount_cents"] == fresh["total_cents"]


def test_the_second_copy_body_stays_optional_and_is_validated(world, documents_clock):  # noqa: F811
    org, invoice = billed(world, documents_clock)
    documents_clock.now = sp(2026, 12, 1, 10)
    for body in ({"expected_total_cents": "10"}, {"expected_due_date": "01/12/2026"}, {"valor": 1}):
        assert world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master, body).status_code == 400
    assert world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master).status_code == 201


# --- the acceptance records the version read ---------------------------------------------------------

def test_the_acceptance_names_the_version_read_and_a_changed_text_is_refused(world, monkeypatch):
    world.seed_catalog()
    org = world.organization(items=(("MS365-E3", 2),))
    shown = world.call("GET", "/contract/document", org.master).json_body["version"]
    before = world.call("GET", "/contract", org.master).json_body
    refused = world.call("POST", "/contract/accept", org.master, {"document_version": "1999.1"})
    assert refused.status_code == 409 and refused.json_body["error"]["code"] == "contract_version_changed"
    assert f"versão {shown}" in refused.json_body["error"]["message"]
    assert world.call("GET", "/contract", org.master).json_body == before
    assert world.call("GET", "/subscriptions", org.master).json_body["items"] == []
    assert world.call("POST", "/contract/accept", org.master, {"document_version": ""}).status_code == 400
    accepted = world.call("POST", "/contract/accept", org.master, {"document_version": shown})
    assert accepted.status_code == 200, accepted.json_body
    assert accepted.json_body["accepted_version"] == shown


# --- the contract's PDF is rendered once per content ---------------------------------------------------

def test_the_contract_pdf_is_put_once_per_content(world, monkeypatch):
    world.seed_catalog()
    org = world.organization(items=(("MS365-E3", 2),))
    puts = []
    real_put = world.deps.documents.put
    monkeypatch.setattr(world.deps.documents, "put", lambda key, *a, **k: puts.append(key) or real_put(key, *a, **k))
    first = world.call("GET", "/contract/document", org.master).json_body
    second = world.call("GET", "/contract/document", org.master).json_body
    assert len(puts) == 1 and puts[0].startswith(f"organizations/{org.id}/contract/")
    assert first["pdf_url"].split("?")[0] == second["pdf_url"].split("?")[0]
    # Another content (another organisation name) is another file.
    other = world.organization(items=(("MS365-E3", 3),))
    world.call("GET", "/contract/document", other.master)
    assert len(puts) == 2 and puts[1] != puts[0]
