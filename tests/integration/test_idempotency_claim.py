"""The Idempotency-Key claim when DynamoDB applied the claim but its answer was lost.

botocore retries a write whose connection was reset or that answered 500, and DynamoDB may have
applied the first attempt: the retry then fails its own condition on the item it wrote. The claim
must recognise its own write, or the one request carrying the key is told "em andamento" (409)
and nothing is bought.
"""
from datetime import datetime, timedelta, timezone

from chalicelib.storage.models import IdempotencyItem


def _applied_then_retried(monkeypatch):
    """`save` as when the first attempt's answer is lost: the write lands, then the retry runs the
    same conditional write again (and fails its condition)."""
    real_save = IdempotencyItem.save

    def save(self, *args, **kwargs):
        real_save(self, *args, **kwargs)
        return real_save(self, *args, **kwargs)

    monkeypatch.setattr(IdempotencyItem, "save", save)


def test_a_claim_whose_answer_was_lost_and_retried_is_still_the_claimer_s(deps, monkeypatch):
    now = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    _applied_then_retried(monkeypatch)

    assert deps.idempotency.claim("user@org:POST /cart/checkout", "pedido-1", "hash", now,
                                  now + timedelta(minutes=5)) is None


def test_another_request_s_claim_of_the_same_key_is_still_found(deps):
    now = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
    scope = "user@org:POST /cart/checkout"
    assert deps.idempotency.claim(scope, "pedido-1", "hash", now, now + timedelta(minutes=5)) is None

    found = deps.idempotency.claim(scope, "pedido-1", "hash", now, now + timedelta(minutes=5))

    assert found is not None and found.status == "in_progress"


def test_over_http_a_retried_claim_buys_once(world, monkeypatch):
    org = world.active_organization()
    assert world.call("PUT", "/cart/items/MS365-E3", org.master, {"quantity": 3}).status_code == 200
    _applied_then_retried(monkeypatch)

    answer = world.call("POST", "/cart/checkout", org.master, headers={"Idempotency-Key": "pedido-1"})

    assert answer.status_code == 201, answer.json_body
    assert [s["sku"] for s in answer.json_body["subscriptions"]] == ["MS365-E3"]
