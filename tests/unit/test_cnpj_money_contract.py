from decimal import Decimal
import pytest

from chalicelib.domain import contract as rules
from chalicelib.domain.contract import AWAITING_ACCEPTANCE, Contract
from chalicelib.domain.errors import Conflict, InvalidInput
from chalicelib.domain.money import format_brl, format_percent_br
from chalicelib.domain.organizations import format_cnpj, normalize_cnpj


@pytest.mark.parametrize("raw, expected", [
    ("11.222.333/0001-81", "11222333000181"),
    ("11444777000161", "11444777000161"),
    # Receita Federal's example of the alphanumeric CNPJ (IN RFB 2.229/2024), valid from July 2026.
    ("12.ABC.345/01DE-35", "12ABC34501DE35"),
    ("12.abc.345/01de-35", "12ABC34501DE35"),
])
def test_valid_cnpjs_are_normalised(raw, expected):
    assert normalize_cnpj(raw) == expected


@pytest.mark.parametrize("raw", ["11.222.333/0001-82", "11111111111111", "123", "12.ABC.345/01DE-36",
                                 "12.ABC.345/01DE-3A", "", "11.222.333/0001-8!"])
def test_invalid_cnpjs_are_refused(raw):
    with pytest.raises(InvalidInput) as err:
        normalize_cnpj(raw)
    assert err.value.code == "invalid_cnpj"


def test_cnpj_is_formatted_with_its_punctuation():
    assert format_cnpj("11222333000181") == "11.222.333/0001-81"


@pytest.mark.parametrize("cents, text", [
    (0, "R$ 0,00"), (5, "R$ 0,05"), (123456, "R$ 1.234,56"), (100000000, "R$ 1.000.000,00"), (-2550, "-R$ 25,50"),
])
def test_money_is_formatted_in_ptbr(cents, text):
    assert format_brl(cents) == text


def awaiting():
    return Contract(id="c", organization_id="o", status=AWAITING_ACCEPTANCE, payment_method="boleto",
                    closing_day=5, billing_contacts=[])


def test_acceptance_records_who_when_where_and_the_version():
    accepted = rules.accept(awaiting(), user_id="u", at="2026-11-29T10:00:00+00:00", source_ip="200.1.2.3",
                            document_version="2026.1")
    assert (accepted.status, accepted.accepted_by, accepted.accepted_from_ip, accepted.accepted_version) == \
        ("active", "u", "200.1.2.3", "2026.1")
    with pytest.raises(Conflict):
        rules.accept(accepted, user_id="u", at="x", source_ip="x", document_version="x")


@pytest.mark.parametrize("day", [0, 29, 31, -1, True, "5"])
def test_closing_day_must_exist_in_every_month(day):
    with pytest.raises(InvalidInput):
        rules.validate_closing_day(day)


@pytest.mark.parametrize("rate, text", [("0.029", "2,90 %"), (Decimal("0.05"), "5,00 %"), ("0.02125", "2,12 %"),
                                        ("0", "0,00 %"), ("12.5", "1.250,00 %")])
def test_rates_are_shown_as_ptbr_percents_with_two_decimals(rate, text):
    assert format_percent_br(rate) == text
