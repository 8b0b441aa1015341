import pytest
from jinja2.exceptions import UndefinedError

from chalicelib.api.schema import integer, obj, string, validate
from chalicelib.domain.errors import InvalidInput
from chalicelib.rendering.environment import format_date_br, render_email

SCHEMA = obj(["name", "count"], name=string(max_length=5), count=integer(0, 10),
             tags={"type": "array", "items": string(), "maxItems": 2, "uniqueItems": True})


@pytest.mark.parametrize("body, code, field", [
    ({"count": 1}, "required", "name"),
    ({"name": "abc", "count": 11}, "out_of_range", "count"),
    ({"name": "abc", "count": True}, "invalid_type", "count"),
    ({"name": "abc", "count": 1.5}, "invalid_type", "count"),
    ({"name": "abcdef", "count": 1}, "too_long", "name"),
    ({"name": "a\x00", "count": 1}, "invalid_characters", "name"),
    ({"name": "abc", "count": 1, "extra": 1}, "unknown_field", "extra"),
    ({"name": "abc", "count": 1, "tags": ["a", "a"]}, "duplicate_items", "tags"),
    ({"name": "abc", "count": 1, "tags": ["a", 2]}, "invalid_type", "tags[1]"),
])
def test_each_bad_field_is_named_with_a_code(body, code, field):
    with pytest.raises(InvalidInput) as err:
        validate(body, SCHEMA)
    assert (err.value.code, err.value.details["field"]) == (code, field)


def test_a_valid_body_passes_untouched():
    body = {"name": "abc", "count": 0, "tags": ["x"]}
    assert validate(body, SCHEMA) is body


def test_dates_are_shown_in_ptbr_and_instants_in_sao_paulo_time():
    assert format_date_br("2026-11-24") == "24/11/2026"
    assert format_date_br("2026-11-24T02:30:00+00:00") == "23/11/2026 23:30"


def welcome_context(**overrides):
    context = {"user": {"name": "Ana", "email": "ana@e.example"}, "organization": {"name": "Empresa & Cia"},
               "role_labels": ["Master"], "is_master": True, "temporary_password": "Temp#123",
               "contract_items": [{"name": "Microsoft 365 E3", "quantity": 12}], "portal_url": "http://p",
               "office365_admin_url": "https://admin.microsoft.com",
               "support": {"phone": "(11) 1", "service_desk_url": "http://sd", "email": "s@e"}}
    context.update(overrides)
    return context


def test_the_welcome_email_has_subject_text_and_escaped_html():
    subject, html, text = render_email("user_invited", welcome_context())
    assert subject == "Seu acesso ao Portal Brasoftware Cloud — Empresa & Cia"
    assert "Empresa &amp; Cia" in html and "Empresa & Cia" in text
    assert "Microsoft 365 E3: 12" in text
    assert "aceite do contrato" in text  # the Master is told they accept the contract


def test_a_missing_template_variable_is_an_error_not_an_empty_string():
    context = welcome_context()
    del context["temporary_password"]
    with pytest.raises(UndefinedError):
        render_email("user_invited", context)


def test_the_portal_names_ticket_categories_and_severities_as_the_domain_declares_them():
    import json
    import re

    from chalicelib.domain import tickets

    from tests.support import portal_script

    script = portal_script()
    for name, labels in (("CATEGORIES", tickets.CATEGORY_LABELS), ("SEVERITIES", tickets.SEVERITY_LABELS)):
        declared = json.loads(re.search(rf"const {name} = (\[.*?\]\]);", script).group(1))
        assert dict(declared) == labels


def test_an_invoice_email_queued_before_the_deposit_details_existed_still_renders():
    # The context travels in the email queue: a message queued by the previous release has no `deposit`.
    context = {"organization": {"name": "Escola Aprender"},
               "invoice": {"number": 7, "period_start": "2026-10-11", "period_end": "2026-11-10",
                           "due_date": "2026-11-23", "total_cents": 2071_00, "balance_cents": 2071_00,
                           "payment_method": "deposito", "lines": []},
               "boleto": None, "portal_url": "https://portal.example",
               "support": {"phone": "(11) 3179-6869", "email": "s@example", "service_desk_url": "https://sd.example"}}
    subject, html, text = render_email("invoice_issued", context)
    assert "Depósito bancário" in text and "Dados para depósito" not in text + html
