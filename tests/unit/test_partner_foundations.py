"""The pieces the real partners rest on: the dynamic BR Code, the check of a bank's codes against
FEBRABAN's maths, and the settings that switch each partner from its simulator."""
from datetime import date

import pytest

from chalicelib.domain import boleto, pix
from chalicelib.domain.errors import DomainError
from chalicelib.settings import from_environ

LOCATION = "qrcodepix.bb.com.br/pix/v2/cobv/9b8a7c6d12344a5b8c9d0e1f2a3b4c5d"


def test_a_dynamic_br_code_names_the_banks_location_and_its_crc_holds():
    code = pix.dynamic_payload(location_url="https://" + LOCATION, merchant_name="Brasoftware Informática Ltda",
                               merchant_city="São Paulo", amount_cents=123456)
    assert pix.dynamic_location(code) == LOCATION
    fields = pix.parse(code)
    assert fields["54"] == "1234.56" and fields["59"] == "Brasoftware Informatica L"
    broken = code[:-1] + ("0" if code[-1] != "0" else "1")
    with pytest.raises(DomainError):
        pix.dynamic_location(broken)


def test_a_static_key_is_not_a_dynamic_code():
    static = pix.payload(key="financeiro@brasoftware.com.br", merchant_name="X", merchant_city="Y", amount_cents=100)
    with pytest.raises(DomainError) as refused:
        pix.dynamic_location(static)
    assert refused.value.details["reason"] == "not_dynamic"


def _ours():
    layout = boleto.BancoDoBrasilConvenio7("1234567", "18")
    return boleto.make_boleto(layout, 42, date(2026, 12, 10), 150000)


def test_the_banks_codes_pass_when_they_are_the_boleto_we_computed():
    ours = _ours()
    boleto.check_bank_codes(ours, ours.barcode, boleto.format_digitable_line(ours.digitable_line))


@pytest.mark.parametrize("change", ["amount", "check_digit"])
def test_a_bank_line_that_is_another_boleto_or_has_a_bad_digit_is_refused(change):
    ours = _ours()
    if change == "amount":
        other = boleto.make_boleto(boleto.BancoDoBrasilConvenio7("1234567", "18"), 42, date(2026, 12, 10), 150001)
        line, reason = other.digitable_line, "different_boleto"
    else:
        digit = ours.digitable_line[9]
        line, reason = ours.digitable_line[:9] + str((int(digit) + 1) % 10) + ours.digitable_line[10:], "check_digits"
    with pytest.raises(DomainError) as refused:
        boleto.check_bank_codes(ours, ours.barcode, line)
    assert refused.value.code == "bank_codes_mismatch" and refused.value.details["reason"] == reason


def test_each_partner_is_simulated_unless_said_real():
    settings = from_environ({})
    assert (settings.bank_provider, settings.licence_provider, settings.nfse_provider) == ("simulated",) * 3
    real = from_environ({"BANK_PROVIDER": "real", "LICENCE_PROVIDER": "real"})
    assert (real.bank_provider, real.licence_provider) == ("real", "real")


@pytest.mark.parametrize("variable, value", [
    ("BANK_PROVIDER", "bb"), ("LICENCE_PROVIDER", "partner-center"), ("BANK_API_URL", "http://api.bb.com.br"),
    ("BANK_TIMEOUT_SECONDS", "60"), ("BOLETO_PAYABLE_DAYS_AFTER_DUE", "-1"),
    ("PARTNER_CENTER_AUTHORITY_HOST", "http://127.0.0.1:9"), ("PARTNER_CENTER_COUNTRY", "Brasil"),
    ("BANK_CA_BUNDLE", "/nonexistent/ca.pem"),
])
def test_a_wrong_partner_setting_stops_the_start_naming_the_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        from_environ({variable: value})
