"""The DPS as values: its id per the layout, its dates, its money and the ISS rate as pAliq."""
from datetime import date, datetime, timezone

import pytest

from chalicelib.domain import nfse
from chalicelib.domain.addresses import Address
from chalicelib.domain.billing import Invoice
from chalicelib.domain.organizations import Organization

REGISTRATION = nfse.ProviderRegistration(cnpj="11222333000181", name="Revenda Ltda", municipal_registration="12345678",
                                         city_code="3550308", simples_nacional="1", special_regime="0")
TERMS = nfse.ServiceTerms(national_code="010501", nbs_code="115022000", description="Licenciamento",
                          municipal_code=None, iss_taxation="1", iss_withholding="1", iss_rate="0.029",
                          total_taxes_indicator="0")
ADDRESS = Address(cep="20040002", street="Av. Rio Branco", number="1", district="Centro", city_code="3304557",
                  city="Rio de Janeiro", state="RJ", complement="sala 1201")


def _invoice(number=42, total_cents=123456):
    return Invoice(id="inv-1", organization_id="org-1", contract_id="c-1", number=number,
                   period_start=date(2026, 11, 1), period_end=date(2026, 11, 30), issued_at="2026-11-30T12:00:00+00:00",
                   due_date=date(2026, 12, 10), lines=[], total_cents=total_cents, payment_method="boleto")


def test_a_dps_id_is_dps_the_city_the_inscription_type_and_number_the_series_and_the_number():
    identifier = nfse.dps_id("3550308", "11222333000181", "1", 42)
    assert identifier == "DPS" + "3550308" + "2" + "11222333000181" + "00001" + "000000000000042"
    assert len(identifier) == 45 and identifier[3:].isdigit()
    # A CPF: type 1, padded with zeros to 14 on the left.
    assert nfse.dps_id("3304557", "12345678909", "12", 7) == "DPS3304557" + "1" + "00012345678909" + "00012" + \
        "7".zfill(15)
    assert nfse.dps_id("3550308", "11222333000181", "1", 10 ** 15 - 1).endswith("9" * 15)


@pytest.mark.parametrize("city, cnpj, series, number", [
    ("355030", "11222333000181", "1", 1),  # a 6-digit city code
    ("3550308", "12ABC34501DE35", "1", 1),  # an alphanumeric CNPJ: layout 1.01 numbers CNPJs only
    ("3550308", "11.222.333/0001-81", "1", 1),
    ("3550308", "11222333000181", "123456", 1),
    ("3550308", "11222333000181", "1", 0),
    ("3550308", "11222333000181", "1", 10 ** 15),
])
def test_what_the_layout_cannot_number_is_refused_rather_than_written_wrong(city, cnpj, series, number):
    with pytest.raises(ValueError):
        nfse.dps_id(city, cnpj, series, number)


@pytest.mark.parametrize("cents, written", [(0, "0.00"), (1, "0.01"), (99, "0.99"), (100, "1.00"),
                                            (123456, "1234.56"), (1000000000, "10000000.00")])
def test_money_is_written_from_centavos_with_two_decimals(cents, written):
    assert nfse.money(cents) == written


@pytest.mark.parametrize("bad", [-1, 12.5, "100", True])
def test_money_refuses_what_is_not_centavos(bad):
    with pytest.raises(ValueError):
        nfse.money(bad)


@pytest.mark.parametrize("rate, percent", [("0.029", "2.90"), ("0.02", "2.00"), ("0.05", "5.00"),
                                           ("0.0215", "2.15"), ("0.02125", "2.13"), ("0", "0.00")])
def test_the_iss_rate_fraction_becomes_pAliq_a_percentage_with_two_decimals(rate, percent):
    assert nfse.iss_percent(rate) == percent


@pytest.mark.parametrize("bad", ["2.9", "0.10", "-0.01", "abc", "NaN"])
def test_an_iss_rate_that_is_not_a_fraction_below_ten_percent_is_refused(bad):
    with pytest.raises(ValueError):
        nfse.iss_percent(bad)


def test_timestamps_are_sao_paulo_time_in_whole_seconds_with_the_offset():
    instant = datetime(2026, 11, 30, 12, 0, 0, 654321, tzinfo=timezone.utc)
    assert nfse.local_timestamp(instant) == "2026-11-30T09:00:00-03:00"
    with pytest.raises(ValueError):
        nfse.local_timestamp(datetime(2026, 11, 30, 12, 0))


def test_the_dps_of_an_invoice_declares_its_number_period_total_and_customer():
    organization = Organization(id="org-1", name="Cliente & Filhos Ltda", cnpj="45723174000110", address=ADDRESS)
    issued = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    dps = nfse.dps_for_invoice(_invoice(), organization, REGISTRATION, TERMS, environment=nfse.RESTRICTED_PRODUCTION,
                               issued_at=issued)
    assert dps.id == "DPS3550308211222333000181" + "00001" + "000000000000042"
    assert (dps.number, dps.series, dps.competence, dps.amount_cents) == (42, "1", date(2026, 11, 30), 123456)
    assert (dps.environment, dps.issued_at, dps.application_version) == ("2", issued, nfse.APPLICATION_VERSION)
    # The service is provided where the reseller is established, whatever the customer's city.
    assert dps.service_city_code == "3550308"
    assert dps.taker == nfse.Taker(cnpj="45723174000110", name="Cliente & Filhos Ltda", email=None, address=ADDRESS)
    assert (dps.provider, dps.terms) == (REGISTRATION, TERMS)
    assert "42" in dps.notes and "01/11/2026 a 30/11/2026" in dps.notes


def test_a_customer_without_an_address_is_declared_without_one():
    organization = Organization(id="org-1", name="Cliente", cnpj="45723174000110")
    dps = nfse.dps_for_invoice(_invoice(number=7, total_cents=1), organization, REGISTRATION, TERMS,
                               environment=nfse.PRODUCTION, issued_at=datetime(2026, 11, 30, tzinfo=timezone.utc))
    assert dps.taker.address is None and dps.amount_cents == 1 and dps.id.endswith("7".zfill(15))


def test_the_dps_is_numbered_in_the_series_the_settings_give():
    organization = Organization(id="org-1", name="Cliente", cnpj="45723174000110")
    dps = nfse.dps_for_invoice(_invoice(), organization, REGISTRATION, TERMS, environment=nfse.PRODUCTION,
                               issued_at=datetime(2026, 11, 30, tzinfo=timezone.utc), series="900")
    assert dps.series == "900"
    assert dps.id == "DPS3550308211222333000181" + "00900" + "000000000000042"
