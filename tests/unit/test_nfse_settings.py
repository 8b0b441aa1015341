"""The NFS-e's settings are checked when the process starts: a wrong code, rate or URL stops it with
the variable named, instead of every DPS being refused by the Sefin (or accepted with a wrong rate)
at the next billing run."""
from __future__ import annotations

import pytest

from chalicelib.settings import SEFIN_NACIONAL_URLS, from_environ

IM = {"NFSE_MUNICIPAL_REGISTRATION": "9876543"}  # the real emitter needs the reseller's IM said


def test_the_defaults_are_the_simulator_in_producao_restrita_with_sao_paulos_software_licensing():
    settings = from_environ({})
    assert settings.nfse_provider == "simulated"
    assert settings.nfse_environment == "2"
    assert settings.nfse_api_url == SEFIN_NACIONAL_URLS["2"] == "https://sefin.producaorestrita.nfse.gov.br/SefinNacional"
    assert settings.nfse_registration.city_code == "3550308"
    assert settings.nfse_terms.national_code == "010501"
    assert settings.nfse_terms.iss_rate == "0.029"
    assert settings.nfse_terms.nbs_code is None and settings.nfse_terms.municipal_code is None
    assert settings.nfse_ca_bundle is None and settings.nfse_timeout_seconds == 8


def test_a_reseller_s_own_registration_and_terms_are_read_as_given(tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = from_environ({
        "CSP_STAGE": "prod", "NFSE_PROVIDER": "sefin", "NFSE_ENVIRONMENT": "1", "NFSE_CITY_CODE": "3304557",
        "NFSE_MUNICIPAL_REGISTRATION": "9876543",
        "NFSE_SERVICE_CODE": "010701", "NFSE_NBS_CODE": "115022000", "NFSE_MUNICIPAL_SERVICE_CODE": "001",
        "ISS_RATE": "0.05", "NFSE_SIMPLES_NACIONAL": "3", "NFSE_SPECIAL_REGIME": "6",
        "NFSE_ISS_WITHHOLDING": "2", "NFSE_ISS_TAXATION": "1", "NFSE_CA_BUNDLE": str(bundle),
        "NFSE_TIMEOUT_SECONDS": "12.5"})
    assert (settings.nfse_provider, settings.nfse_environment) == ("sefin", "1")
    assert settings.nfse_api_url == "https://sefin.nfse.gov.br/SefinNacional"
    assert settings.nfse_registration.city_code == "3304557"
    assert (settings.nfse_registration.simples_nacional, settings.nfse_registration.special_regime) == ("3", "6")
    terms = settings.nfse_terms
    assert (terms.national_code, terms.nbs_code, terms.municipal_code) == ("010701", "115022000", "001")
    assert (terms.iss_rate, terms.iss_withholding) == ("0.05", "2")
    assert settings.nfse_ca_bundle == str(bundle) and settings.nfse_timeout_seconds == 12.5


@pytest.mark.parametrize("variable, value", [
    ("NFSE_PROVIDER", "Sefin"),
    ("NFSE_PROVIDER", "sefin-nacional"),
    ("NFSE_ENVIRONMENT", "3"),
    ("NFSE_ENVIRONMENT", "producao"),
    ("NFSE_CITY_CODE", "355030"),  # 6 digits
    ("NFSE_CITY_CODE", "35503080"),
    ("NFSE_CITY_CODE", "35.5030"),
    ("NFSE_SERVICE_CODE", "1.05.01"),  # the dotted form is not the layout's
    ("NFSE_SERVICE_CODE", "10501"),
    ("NFSE_NBS_CODE", "11502200"),
    ("NFSE_NBS_CODE", "1.1502.20.00"),
    ("NFSE_MUNICIPAL_SERVICE_CODE", "0101"),
    ("ISS_RATE", "2.9"),  # a percentage where a fraction is due
    ("ISS_RATE", "0.051"),  # above the 5 % cap
    ("ISS_RATE", "-0.01"),
    ("ISS_RATE", "0,029"),
    ("ISS_RATE", "NaN"),
    ("ISS_RATE", "0.02905"),  # 2,905 %: pAliq carries two decimals
    ("NFSE_SIMPLES_NACIONAL", "4"),
    ("NFSE_SIMPLES_NACIONAL", "0"),
    ("NFSE_SPECIAL_REGIME", "7"),
    ("NFSE_ISS_WITHHOLDING", "0"),
    ("NFSE_ISS_WITHHOLDING", "sim"),
    ("NFSE_ISS_TAXATION", "5"),
    ("NFSE_TOTAL_TAXES_INDICATOR", "1"),
    ("NFSE_SERVICE_DESCRIPTION", "  "),
    ("NFSE_API_URL", "http://sefin.nfse.gov.br/SefinNacional"),
    ("NFSE_API_URL", "ftp://localhost/x"),
    ("NFSE_API_URL", "sefin.nfse.gov.br"),
    ("NFSE_API_URL", "http://localhost.attacker.example/SefinNacional"),
    ("NFSE_CA_BUNDLE", "/nonexistent/ca.pem"),
    ("NFSE_TIMEOUT_SECONDS", "0"),
    ("NFSE_TIMEOUT_SECONDS", "26"),  # beyond what API Gateway waits for a route
    ("NFSE_TIMEOUT_SECONDS", "soon"),
    ("NFSE_DPS_SERIES", ""),
    ("NFSE_DPS_SERIES", "123456"),  # serie is up to 5 digits
    ("NFSE_DPS_SERIES", "A1"),
    ("NFSE_DPS_SERIES", "-1"),
    ("NFSE_DPS_SERIES", "1.0"),
])
def test_a_wrong_value_stops_the_start_naming_the_variable(variable, value):
    with pytest.raises(ValueError) as refused:
        from_environ({variable: value})
    assert str(refused.value).startswith(f"{variable}=") or str(refused.value).startswith(variable)


@pytest.mark.parametrize("rate", ["0", "0.02", "0.029", "0.0295", "0.05", "0.050"])
def test_iss_rates_from_zero_to_the_cap_with_a_percentage_of_two_decimals_are_accepted(rate):
    # Below the 2 % floor too: the floor binds the municipality's law, not the note (Simples, isenção).
    assert from_environ({"ISS_RATE": rate}).nfse_terms.iss_rate == rate


@pytest.mark.parametrize("url", ["http://localhost:8443/SefinNacional", "http://127.0.0.1:9000",
                                 "http://[::1]:9000/x", "https://sefin.example.test/SefinNacional"])
def test_the_api_url_is_https_or_a_fake_on_this_machine(url):
    assert from_environ({"NFSE_API_URL": url}).nfse_api_url == url


def test_the_api_url_follows_the_environment_unless_overridden():
    assert from_environ({"NFSE_ENVIRONMENT": "2"}).nfse_api_url == SEFIN_NACIONAL_URLS["2"]
    assert from_environ({"CSP_STAGE": "prod", "NFSE_ENVIRONMENT": "1"}).nfse_api_url == SEFIN_NACIONAL_URLS["1"]


def test_only_the_prod_stage_emits_real_notes_in_producao():
    # A dev or staging stack pointed at produção would issue notes with fiscal value to test data.
    with pytest.raises(ValueError, match="NFSE_ENVIRONMENT=1"):
        from_environ({"CSP_STAGE": "dev", "NFSE_PROVIDER": "sefin", "NFSE_ENVIRONMENT": "1", **IM})
    assert from_environ({"CSP_STAGE": "dev", "NFSE_PROVIDER": "sefin", "NFSE_ENVIRONMENT": "2", **IM}).nfse_provider == "sefin"
    assert from_environ({"CSP_STAGE": "prod", "NFSE_PROVIDER": "sefin", "NFSE_ENVIRONMENT": "1", **IM}).nfse_environment == "1"


def test_real_selects_the_sefin_as_for_every_partner():
    # README: `*_PROVIDER=real` switches each partner from its simulator.
    assert from_environ({"NFSE_PROVIDER": "real", **IM}).nfse_provider == "sefin"


def test_without_iss_rate_the_note_carries_none_and_the_municipality_s_applies():
    from chalicelib import settings

    assert settings.from_environ({"ISS_RATE": ""}).nfse_terms.iss_rate is None
    assert settings.from_environ({}).nfse_terms.iss_rate == "0.029"


def test_the_real_emitter_needs_the_municipal_registration_said_never_the_demo_s():
    from chalicelib import settings

    with pytest.raises(ValueError, match="NFSE_MUNICIPAL_REGISTRATION is not set"):
        settings.from_environ({"NFSE_PROVIDER": "sefin"})
    assert settings.from_environ({"NFSE_PROVIDER": "sefin", "NFSE_MUNICIPAL_REGISTRATION": ""}) \
        .nfse_registration.municipal_registration is None
    assert settings.from_environ({"NFSE_PROVIDER": "sefin", "NFSE_MUNICIPAL_REGISTRATION": "9876543"}) \
        .nfse_registration.municipal_registration == "9876543"
    with pytest.raises(ValueError, match="NFSE_MUNICIPAL_REGISTRATION="):
        settings.from_environ({"NFSE_PROVIDER": "sefin", "NFSE_MUNICIPAL_REGISTRATION": "12.345-6/7"})


@pytest.mark.parametrize("cnpj", ["45.997.418/0001-53", "45997418000154", "ABCDEFGH000153"])
def test_the_reseller_s_cnpj_is_checked_at_start(cnpj):
    from chalicelib import settings

    with pytest.raises(ValueError, match="BENEFICIARY_CNPJ"):
        settings.from_environ({"BENEFICIARY_CNPJ": cnpj})


def test_the_dps_series_is_1_unless_a_reseller_starts_another():
    """A reseller moving from another system that used series 1 for its CNPJ starts a new one, so
    the portal's DPS ids never meet the old system's."""
    assert from_environ({}).nfse_dps_series == "1"
    assert from_environ({"NFSE_DPS_SERIES": " 900 "}).nfse_dps_series == "900"
    assert from_environ({"NFSE_DPS_SERIES": "99999"}).nfse_dps_series == "99999"
