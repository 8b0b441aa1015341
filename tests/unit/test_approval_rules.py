"""Purchase approvals, the pure rules: who waits for a Master, and a purchase's monthly effect."""
from datetime import datetime, timezone

import pytest

from chalicelib.domain import approvals as rules
from chalicelib.domain.roles import Role

ADM, MASTER, OPERATOR = frozenset({Role.ADM}), frozenset({Role.MASTER}), frozenset({Role.OPERATOR})


@pytest.mark.parametrize("roles, limit, effect, waits", [
    (ADM, 50_000, 50_001, True),            # strictly above
    (ADM, 50_000, 50_000, False),           # at the limit: as today
    (ADM, 0, 1, True),
    (ADM, None, 10**9, False),              # no limit: no approvals
    (MASTER, 0, 10**9, False),              # a Master's purchase never waits
    (frozenset({Role.ADM, Role.MASTER}), 0, 10**9, False),
    (OPERATOR, 0, 10**9, False),            # an operator acting for the customer
    (frozenset({Role.COBRANCA}), 0, 10**9, False),
])
def test_only_an_adm_purchase_strictly_above_a_limit_waits(roles, limit, effect, waits):
    assert rules.needs_approval(roles, limit, effect) is waits


def test_the_monthly_effect_of_a_checkout_is_the_sum_of_quantity_times_the_monthly_price():
    items = [{"unit_price_cents": 20710, "quantity": 3}, {"unit_price_cents": 32870, "quantity": 2}]
    assert rules.checkout_effect(items) == 3 * 20710 + 2 * 32870


def test_an_increase_counts_only_the_seats_added_and_a_decrease_counts_nothing():
    assert rules.increase_effect(20710, 2, 5) == 3 * 20710
    assert rules.increase_effect(20710, 5, 2) == 0


def test_a_request_expires_seven_days_after_it_was_made_and_is_expired_at_that_instant():
    made = datetime(2026, 11, 17, 13, tzinfo=timezone.utc)
    request = rules.ApprovalRequest(id="a", organization_id="o", kind=rules.CHECKOUT, items=(), subscription=None,
                                    monthly_effect_cents=1, requested_by={"id": "u", "email": "e", "name": "n"},
                                    created_at=made.isoformat(), expires_at=rules.expires_at(made).isoformat())
    assert request.expires_at == "2026-11-24T13:00:00+00:00"
    assert not rules.is_expired(request, "2026-11-24T12:59:59+00:00")
    assert rules.is_expired(request, "2026-11-24T13:00:00+00:00")
    assert not rules.is_expired(rules.decided(request, rules.REJECTED, None, "2026-11-25T00:00:00+00:00"),
                                "2026-11-25T00:00:00+00:00")
