"""The second copy's preview: amount, fine, interest, total and new due date computed by the rules
the second copy issues with, so the preview equals the boleto the POST then issues; its refusals
in plain pt-BR, nothing written."""
from chalicelib.domain import boleto
from tests.integration.test_documents import billed, clock  # noqa: F401 - the fixture
from tests.support import sp


def test_the_preview_equals_the_second_copy_then_issued(world, clock):  # noqa: F811
    org, invoice = billed(world, clock)
    clock.now = sp(2026, 12, 1, 10)  # due 23 Nov: a week late
    old = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    assert old["replaced"] == []
    preview = world.call("GET", f"/invoices/{invoice['id']}/second-copy-preview", org.master)
    assert preview.status_code == 200
    p = preview.json_body
    total = invoice["total_cents"]
    days_late = 11  # 23 Nov → 4 Dec
    assert p["amount_cents"] == invoice["balance_cents"] == total
    assert p["fine_cents"] == round(total * 0.02)
    assert p["interest_cents"] == round(total * 0.01 / 30 * days_late)
    assert p["total_cents"] == p["amount_cents"] + p["fine_cents"] + p["interest_cents"] == \
        boleto.late_amount(total, days_late)
    assert p["due_date"] == "2026-12-04" and p["currency"] == "BRL"
    # The preview wrote nothing: the boleto in force is the same one.
    assert world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body["nosso_numero"] == \
        old["nosso_numero"]

    issued = world.call("POST", f"/invoices/{invoice['id']}/second-copy", org.master)
    assert issued.status_code == 201
    assert issued.json_body["amount_cents"] == p["total_cents"] and issued.json_body["due_date"] == p["due_date"]
    # The boleto in force is the new one; the old one is listed as replaced.
    now = world.call("GET", f"/invoices/{invoice['id']}/boleto", org.master).json_body
    assert now["nosso_numero"] == issued.json_body["nosso_numero"]
    assert now["replaced"] == [{"nosso_numero": old["nosso_numero"], "due_date": old["due_date"],
                                "amount_cents": old["amount_cents"]}]


def test_a_preview_of_an_invoice_not_overdue_is_refused_in_plain_words(world, clock):  # noqa: F811
    org, invoice = billed(world, clock)
    response = world.call("GET", f"/invoices/{invoice['id']}/second-copy-preview", org.master)
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "invoice_not_overdue"
    assert response.json_body["error"]["message"] == "Só faturas vencidas têm segunda via."


def test_a_deposit_invoice_has_no_second_copy_preview(world, clock):  # noqa: F811
    org, invoice = billed(world, clock, payment_method="deposito")
    clock.now = sp(2026, 12, 1, 10)
    response = world.call("GET", f"/invoices/{invoice['id']}/second-copy-preview", org.master)
    assert response.status_code == 409 and response.json_body["error"]["code"] == "second_copy_not_applicable"


def test_the_preview_is_for_billing_profiles_of_the_invoices_organisation_only(world, clock):  # noqa: F811
    org, invoice = billed(world, clock)
    clock.now = sp(2026, 12, 1, 10)
    other = world.organization()
    response = world.call("GET", f"/invoices/{invoice['id']}/second-copy-preview", other.master)
    assert response.status_code == 404
