"""The checkout review (GET /cart/preview) is the next invoice's line before it exists; the
licence panel's spend by month and family (GET /spend/monthly) is the invoices, net of credits and
cancellations."""
import pytest

from chalicelib.domain.clock import FixedClock
from chalicelib.domain.roles import Role
from tests.support import sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 17, 10))
    return world.deps.clock


@pytest.fixture
def org(world, clock):
    return world.active_organization(closing_day=10)


def bill(world, period):
    assert world.call("POST", "/backoffice/billing-runs", world.operator(), {"period": period}).status_code == 202
    world.drain_queues()


def test_the_reviewed_first_charge_is_the_line_on_the_next_invoice(world, org, clock):
    for sku, quantity in (("MS365-E3", 3), ("MS365-E5", 2)):
        assert world.call("PUT", f"/cart/items/{sku}", org.master, {"quantity": quantity}).status_code == 200
    response = world.call("GET", "/cart/preview", org.master)
    assert response.status_code == 200
    preview = response.json_body
    items = {i["sku"]: i for i in preview["items"]}
    e3, e5 = items["MS365-E3"], items["MS365-E5"]
    # Monthly plan, bought on 17 Nov in the period 11 Nov – 10 Dec (30 days): 24 days pro rata.
    assert (e3["term"], e3["billing_frequency"], e3["plan_label"]) == ("P1Y", "monthly", "Anual · cobrança mensal")
    assert e3["first_period"] == {"start": "2026-11-17", "end": "2026-12-10"}
    assert e3["first_charge_cents"] == round(20710 * 3 * 24 / 30) and e3["monthly_cents"] == 20710 * 3
    assert e3["invoice_period_end"] == "2026-12-10" and e3["next_charge_on"] is None
    # Annual up front: the whole year on the invoice of the period it starts in; nothing monthly after.
    assert e5["first_charge_cents"] == 32870 * 2 * 12 and e5["monthly_cents"] is None
    assert e5["first_period"] == {"start": "2026-11-17", "end": "2027-11-16"} and e5["next_charge_on"] == "2027-11-17"
    assert preview["first_charge_cents"] == e3["first_charge_cents"] + e5["first_charge_cents"]
    assert preview["monthly_cents"] == 20710 * 3 and preview["cancellation_window_days"] == 7
    assert preview["activated_on"] == "2026-11-17"

    assert world.call("POST", "/cart/checkout", org.master).status_code == 201
    world.drain_queues()  # provisioned (activated) the same day
    clock.now = sp(2026, 12, 11, 9)
    bill(world, "2026-12")
    [summary] = world.call("GET", "/invoices", org.master).json_body["items"]
    invoice = world.call("GET", f"/invoices/{summary['id']}", org.master).json_body
    charged = {}
    for line in invoice["lines"]:
        charged[line["sku"]] = charged.get(line["sku"], 0) + line["amount_cents"]
    assert charged == {"MS365-E3": e3["first_charge_cents"], "MS365-E5": e5["first_charge_cents"]}
    assert invoice["total_cents"] == preview["first_charge_cents"]
    # The month after, the monthly plan costs what the review said.
    clock.now = sp(2027, 1, 11, 9)
    bill(world, "2027-01")
    january = [i for i in world.call("GET", "/invoices", org.master).json_body["items"]
               if i["period_end"] == "2027-01-10"][0]
    assert january["total_cents"] == e3["monthly_cents"]


def test_the_review_is_refused_for_an_empty_cart_and_for_who_may_not_buy(world, org):
    empty = world.call("GET", "/cart/preview", org.master)
    assert empty.status_code == 422 and empty.json_body["error"]["code"] == "cart_empty"
    support = world.user(org.id, [Role.SUPORTE])
    assert world.call("GET", "/cart/preview", support).status_code == 403


def test_adding_a_product_already_in_the_cart_is_the_new_total_the_portal_sends(world, org):
    world.call("PUT", "/cart/items/MS365-E3", org.master, {"quantity": 2})
    cart = world.call("PUT", "/cart/items/MS365-E3", org.master, {"quantity": 2 + 3}).json_body
    assert [(i["sku"], i["quantity"]) for i in cart["items"]] == [("MS365-E3", 5)]
    preview = world.call("GET", "/cart/preview", org.master).json_body
    assert [i["quantity"] for i in preview["items"]] == [5]


def test_spend_by_month_and_family_is_the_invoices_net_of_cancellations(world, org, clock):
    world.subscription(org, "MS365-E3", 4, bought_at=sp(2026, 9, 11, 10))
    world.subscription(org, "INTUNE-P1", 10, bought_at=sp(2026, 9, 11, 10))
    clock.now = sp(2026, 10, 11, 9)
    bill(world, "2026-10")
    clock.now = sp(2026, 11, 11, 9)
    bill(world, "2026-11")
    operator = world.operator()
    invoices = {i["period_end"]: i for i in world.call("GET", "/invoices", org.master).json_body["items"]}
    november = invoices["2026-11-10"]
    cancelled = world.call("POST", f"/backoffice/invoices/{november['id']}/cancel", operator,
                           {"reason": "Emitida com erro", "reissue": False})
    assert cancelled.status_code == 200, cancelled.json_body
    clock.now = sp(2026, 11, 20, 10)

    response = world.call("GET", "/spend/monthly?months=12", org.master)
    assert response.status_code == 200
    spend = response.json_body
    assert [m["month"] for m in spend["items"]] == [f"2025-{m:02d}" for m in (12,)] + \
        [f"2026-{m:02d}" for m in range(1, 12)]
    by_month = {m["month"]: m for m in spend["items"]}
    october = by_month["2026-10"]
    assert october["total_cents"] == invoices["2026-10-10"]["total_cents"] == 4 * 20710 + 10 * 4410
    assert october["families"] == [{"family": "Microsoft 365", "amount_cents": 4 * 20710},
                                   {"family": "Segurança", "amount_cents": 10 * 4410}]
    assert by_month["2026-11"] == {"month": "2026-11", "families": [], "credits_cents": 0, "total_cents": 0}
    assert spend["families"] == ["Microsoft 365", "Segurança"]
    assert len(world.call("GET", "/spend/monthly?months=3", org.master).json_body["items"]) == 3


def test_spend_is_financial_data_and_its_months_are_bounded(world, org):
    for role, status in ((Role.COBRANCA, 200), (Role.ADM, 403), (Role.SUPORTE, 403)):
        assert world.call("GET", "/spend/monthly", world.user(org.id, [role])).status_code == status
    for months in ("0", "25", "doze"):
        refused = world.call("GET", f"/spend/monthly?months={months}", org.master)
        assert refused.status_code == 400 and refused.json_body["error"]["code"] == "invalid_months"
        assert "meses" in refused.json_body["error"]["message"]
