"""The verification the README documents for integrators (`verify` in local/webhook_receiver.py,
quoted word for word in the README's "Webhooks: events for your ERP") accepts what the product's
signer signs and nothing else."""
import inspect
import json
import re
from pathlib import Path

import pytest

from chalicelib.domain import webhooks
from local.webhook_receiver import TOLERANCE_SECONDS, verify

SECRET = webhooks.new_secret()
NOW = 1_796_000_000  # 2026-11-30T…Z
BODY = json.dumps({"id": "evt_01", "type": "invoice.issued", "created_at": "2026-11-30T12:00:00Z",
                   "data": {"invoice_id": "inv_1", "number": 7, "total_cents": 123456}},
                  separators=(",", ":"), ensure_ascii=False).encode()


def signed(body=BODY, secret=SECRET, at=NOW):
    return webhooks.signature(secret, at, body)


def test_what_the_product_signs_verifies_and_gives_the_event():
    assert verify(SECRET, signed(), BODY, now=NOW)["id"] == "evt_01"
    # Any time within 5 minutes either way.
    assert verify(SECRET, signed(), BODY, now=NOW + TOLERANCE_SECONDS)["type"] == "invoice.issued"
    assert verify(SECRET, signed(), BODY, now=NOW - TOLERANCE_SECONDS)["type"] == "invoice.issued"
    # Non-ASCII text in the body: the bytes as sent are what is signed.
    accented = json.dumps({"id": "evt_2", "data": {"description": "Fatura nº 7 — São Paulo"}}, ensure_ascii=False).encode()
    assert verify(SECRET, signed(accented), accented, now=NOW)["id"] == "evt_2"
    # Another v1 beside the good one (a secret being rotated) does not hide it.
    t, v1 = signed().split(",")
    assert verify(SECRET, f"{t},v1={'0' * 64},{v1}", BODY, now=NOW)["id"] == "evt_01"
    assert verify(SECRET, f" {t}, {v1}", BODY, now=NOW)["id"] == "evt_01"


REFUSED = [  # header, body, secret, now, why
    (signed(), BODY + b" ", SECRET, NOW, "one byte more"),
    (signed(), json.dumps(json.loads(BODY)).encode(), SECRET, NOW, "the same JSON re-serialized"),
    (signed(), BODY, webhooks.new_secret(), NOW, "another endpoint's secret"),
    (signed(), BODY, SECRET, NOW + TOLERANCE_SECONDS + 1, "signed more than 5 minutes ago"),
    (signed(), BODY, SECRET, NOW - TOLERANCE_SECONDS - 1, "signed in the future"),
    (signed(at=NOW - 3600).replace(f"t={NOW - 3600}", f"t={NOW}"), BODY, SECRET, NOW, "an old signature, t moved"),
    (signed().split(",")[1], BODY, SECRET, NOW, "no t"),
    (signed().split(",")[0], BODY, SECRET, NOW, "no v1"),
    ("", BODY, SECRET, NOW, "no header"),
    (signed().replace(f"t={NOW}", "t=abc"), BODY, SECRET, NOW, "t not a number"),
    ]


# Named by `why`: the secrets are random, and pytest-xdist's workers must collect the same test ids.
@pytest.mark.parametrize("header, body, secret, now, why", [pytest.param(*case, id=case[-1]) for case in REFUSED])
def test_anything_else_is_refused(header, body, secret, now, why):
    with pytest.raises(ValueError):
        verify(secret, header, body, now=now)


def test_the_signature_header_has_the_documented_form():
    assert re.fullmatch(rf"t={NOW},v1=[0-9a-f]{{64}}", signed())
    assert webhooks.SIGNATURE_HEADER == "X-CSP-Signature"


def test_the_readme_quotes_the_verified_function_word_for_word():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    if "X-CSP-Signature" not in readme:
        pytest.skip("the README's webhook section (/tmp/prompts21/readme-webportal.md) is not merged yet")
    assert inspect.getsource(verify) in readme
    assert f"TOLERANCE_SECONDS = {TOLERANCE_SECONDS}" in readme
