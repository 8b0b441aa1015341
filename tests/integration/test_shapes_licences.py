"""Answers of the licence, catalog, contract, user, sign-in and portal routes that the other tests
do not reach, each held to its published shape by `World.call` (tests/contract.py): the portal's
page and every asset, a preview of a reduction that waits for the renewal (no period, no lines),
`/me` of an operator (the reseller has no CNPJ)."""
import os

import pytest

from chalicelib.api.portal import ASSET_TYPES, PORTAL_DIR
from chalicelib.domain.clock import SAO_PAULO, FixedClock
from tests.support import sp


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 11, 11))
    return world.deps.clock


def test_the_portal_page_and_each_of_its_assets_answer_a_media_type_the_contract_lists(world):
    page = world.call("GET", "/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assets = sorted(name for name in os.listdir(PORTAL_DIR) if os.path.splitext(name)[1] in ASSET_TYPES)
    assert {os.path.splitext(name)[1] for name in assets} >= {".js", ".css"}
    for name in assets:
        response = world.call("GET", f"/portal/assets/{name}")
        assert response.status_code == 200, name
        assert response.headers["Content-Type"] == ASSET_TYPES[os.path.splitext(name)[1]]


def test_a_preview_of_a_reduction_at_renewal_has_no_period_and_no_lines(world, clock):
    org = world.active_organization()
    sub = world.subscription(org, "MS365-E3", 10, bought_at=clock.now)
    clock.advance(days=8)  # the 7-day window is over: a reduction waits for the renewal
    preview = world.call("GET", f"/subscriptions/{sub.id}/quantity-preview?quantity=4", org.master).json_body
    assert preview["applies"] == "at_renewal" and preview["effective_on"] == sub.renews_on.isoformat()
    assert (preview["amount_cents"], preview["lines"]) == (0, [])
    assert "period_start" not in preview and "period_end" not in preview


def test_the_changes_page_shows_a_scheduled_reduction(world, clock):
    org = world.active_organization()
    sub = world.subscription(org, "MS365-E3", 10, bought_at=clock.now)
    clock.advance(days=8)
    world.call("POST", f"/subscriptions/{sub.id}/quantity", org.master, {"quantity": 4, "reason": "migracao"})
    [change] = world.call("GET", f"/subscriptions/{sub.id}/changes", org.master).json_body["items"]
    assert (change["status"], change["reason"], change["applied_at"]) == ("scheduled", "migracao", None)
    panel = world.call("GET", f"/subscriptions/{sub.id}", org.master).json_body
    assert panel["pending_change"]["applies"] == "at_renewal"
    # An instant with its offset, in São Paulo time: the window closed 7 days after the purchase.
    assert panel["cancellation_allowed_until"] == sp(2026, 11, 18).astimezone(SAO_PAULO).isoformat()


def test_me_of_an_operator_names_the_reseller_without_a_cnpj(world):
    operator = world.operator()
    me = world.call("GET", "/me", operator).json_body
    assert me["organization"]["cnpj"] is None and me["roles"] == ["operator"]
    assert me["limits"]["purchase_quantity"]["minimum"] == 1
