"""The DPS and the cancellation event as XML: valid against the national XSDs (v1.01) once signed,
their signatures verify with the reseller's certificate, and a change after signing does not."""
from datetime import date, datetime, timezone
from dataclasses import replace

import pytest
from lxml import etree

from chalicelib.domain import nfse
from chalicelib.domain.addresses import Address
from chalicelib.fiscal import dps as fiscal_dps
from chalicelib.fiscal import events, schemas, signing
from local.demo_certificate import demo_a1

NS = {"n": "http://www.sped.fazenda.gov.br/nfse"}
CNPJ = "11222333000181"
REGISTRATION = nfse.ProviderRegistration(cnpj=CNPJ, name="Revenda Ltda", municipal_registration="12345678",
                                         city_code="3550308", simples_nacional="1", special_regime="0")
TERMS = nfse.ServiceTerms(national_code="010501", nbs_code=None,
                          description="Licenciamento de uso de programas de computação (Microsoft CSP)",
                          municipal_code=None, iss_taxation="1", iss_withholding="1", iss_rate="0.029",
                          total_taxes_indicator="0")
ADDRESS = Address(cep="01310100", street="Av. Paulista", number="1000", district="Bela Vista", city_code="3550308",
                  city="São Paulo", state="SP", complement="cj. 12 & 13")
TAKER = nfse.Taker(cnpj="45723174000110", name="Cliente Ltda", email=None, address=None)
ISSUED = datetime(2026, 11, 30, 12, 0, 0, 987654, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def certificate():
    return signing.A1Certificate.from_pkcs12(*demo_a1(CNPJ, "REVENDA LTDA"))


def _dps(**changes):
    base = nfse.Dps(environment="2", issued_at=ISSUED, series="1", number=42, competence=date(2026, 11, 30),
                    provider=REGISTRATION, taker=TAKER, terms=TERMS, service_city_code="3550308",
                    amount_cents=123456, application_version=nfse.APPLICATION_VERSION, notes="Fatura nº 42")
    return replace(base, **changes)


def _read(xml: str, path: str):
    return etree.fromstring(xml.encode()).findtext(path, namespaces=NS)


DPS_CASES = {
    "without address": _dps(),
    "with address and email": _dps(taker=replace(TAKER, address=ADDRESS, email="fiscal@cliente.com.br")),
    "centavos only": _dps(amount_cents=7, number=1),
    "zero": _dps(amount_cents=0),
    "large amount": _dps(amount_cents=123456789012, number=999999999999999),
    "hostile characters": _dps(taker=replace(TAKER, name="Açaí & <Cia> \"Ltda\" — “filial”  \t dois",
                                             address=replace(ADDRESS, street="Rua  Ç & <b>\n")),
                               notes="Obs.: <script>alert('x')</script> & ç ✓"),
    "long description": _dps(terms=replace(TERMS, description="Licença " + "ção & <x> " * 400)),
    "no rate, withheld, municipal code, NBS": _dps(terms=replace(TERMS, iss_rate=None, iss_withholding="2",
                                                                 municipal_code="001", nbs_code="115022000")),
    "production, a number series": _dps(environment="1", series="00012"),
    "Simples Nacional ME/EPP without IM": _dps(provider=replace(REGISTRATION, simples_nacional="3",
                                                                municipal_registration=None)),
}


@pytest.mark.parametrize("case", DPS_CASES, ids=list(DPS_CASES))
def test_every_dps_is_valid_against_the_xsd_once_signed_and_its_signature_verifies(case, certificate):
    dps = DPS_CASES[case]
    dps_id, signed = fiscal_dps.sign_dps(dps, certificate)

    assert dps_id == dps.id
    assert schemas.validate(signed, "DPS") == []
    verified = signing.verify(signed, certificate.certificate)
    assert verified.reference_id == dps_id
    assert signing.embedded_certificate(signed) == certificate.certificate
    assert _read(signed, "n:infDPS/n:dhEmi") == "2026-11-30T09:00:00-03:00"
    assert _read(signed, "n:infDPS/n:valores/n:vServPrest/n:vServ") == nfse.money(dps.amount_cents)


def test_the_dps_carries_what_the_layout_asks_in_its_order(certificate):
    _, signed = fiscal_dps.sign_dps(DPS_CASES["with address and email"], certificate)
    info = etree.fromstring(signed.encode()).find("n:infDPS", NS)
    assert [etree.QName(child).localname for child in info] == [
        "tpAmb", "dhEmi", "verAplic", "serie", "nDPS", "dCompet", "tpEmit", "cLocEmi", "prest", "toma", "serv",
        "valores"]
    assert info.get("Id") == "DPS355030821122233300018100001000000000000042"
    assert _read(signed, "n:infDPS/n:tpEmit") == "1" and _read(signed, "n:infDPS/n:verAplic") == "csp-portal-1.0"
    assert _read(signed, "n:infDPS/n:prest/n:regTrib/n:opSimpNac") == "1"
    assert _read(signed, "n:infDPS/n:toma/n:end/n:endNac/n:cMun") == "3550308"
    assert _read(signed, "n:infDPS/n:toma/n:end/n:endNac/n:CEP") == "01310100"
    assert _read(signed, "n:infDPS/n:toma/n:end/n:xCpl") == "cj. 12 & 13"
    assert _read(signed, "n:infDPS/n:toma/n:email") == "fiscal@cliente.com.br"
    assert _read(signed, "n:infDPS/n:serv/n:locPrest/n:cLocPrestacao") == "3550308"
    assert _read(signed, "n:infDPS/n:valores/n:trib/n:tribMun/n:pAliq") == "2.90"
    assert _read(signed, "n:infDPS/n:valores/n:trib/n:totTrib/n:indTotTrib") == "0"
    # The signature is the root's last child, unprefixed.
    assert etree.fromstring(signed.encode())[-1].tag == "{http://www.w3.org/2000/09/xmldsig#}Signature"
    assert "<Signature xmlns=" in signed


def test_hostile_text_is_escaped_and_kept_within_latin_1(certificate):
    _, signed = fiscal_dps.sign_dps(DPS_CASES["hostile characters"], certificate)
    assert "<script>" not in signed and "<Cia>" not in signed and "&lt;Cia&gt;" in signed
    assert _read(signed, "n:infDPS/n:toma/n:xNome") == 'Açaí & <Cia> "Ltda" - "filial" dois'
    assert _read(signed, "n:infDPS/n:toma/n:end/n:xLgr") == "Rua Ç & <b>"
    assert _read(signed, "n:infDPS/n:serv/n:infoCompl/n:xInfComp") == "Obs.: <script>alert('x')</script> & ç"


def test_a_long_description_is_cut_to_the_layout_s_2000_characters(certificate):
    _, signed = fiscal_dps.sign_dps(DPS_CASES["long description"], certificate)
    assert len(_read(signed, "n:infDPS/n:serv/n:cServ/n:xDescServ")) <= 2000


def test_without_a_rate_pAliq_is_left_out_for_the_municipality_s(certificate):
    _, signed = fiscal_dps.sign_dps(DPS_CASES["no rate, withheld, municipal code, NBS"], certificate)
    assert _read(signed, "n:infDPS/n:valores/n:trib/n:tribMun/n:pAliq") is None
    assert _read(signed, "n:infDPS/n:valores/n:trib/n:tribMun/n:tpRetISSQN") == "2"
    assert _read(signed, "n:infDPS/n:serv/n:cServ/n:cNBS") == "115022000"


@pytest.mark.parametrize("tamper", [
    lambda xml: xml.replace("<vServ>1234.56</vServ>", "<vServ>1.00</vServ>"),
    lambda xml: xml.replace("<CNPJ>45723174000110</CNPJ>", "<CNPJ>45723174000200</CNPJ>"),
    lambda xml: xml.replace("<nDPS>42</nDPS>", "<nDPS>43</nDPS>"),
], ids=["amount", "taker", "number"])
def test_a_dps_changed_after_signing_does_not_verify(tamper, certificate):
    _, signed = fiscal_dps.sign_dps(_dps(), certificate)
    tampered = tamper(signed)
    assert tampered != signed
    with pytest.raises(signing.InvalidSignature):
        signing.verify(tampered, certificate.certificate)


def test_a_dps_signed_by_another_certificate_does_not_verify_with_the_reseller_s(certificate):
    other = signing.A1Certificate.from_pkcs12(*demo_a1("99888777000166", "OUTRA"))
    _, signed = fiscal_dps.sign_dps(_dps(), other)
    with pytest.raises(signing.InvalidSignature):
        signing.verify(signed, certificate.certificate)


def test_an_unsigned_dps_fails_nothing_but_carries_no_signature():
    xml = fiscal_dps.dps_xml(_dps())
    assert schemas.validate(xml, "DPS") == []  # the signature is optional in the XSD: the emitter requires it
    with pytest.raises(signing.InvalidSignature):
        signing.verify(xml)


KEY = "35503082211222333000181000000000000126117922195898"


@pytest.mark.parametrize("reason_code, reason", [("1", "Quantidade de licenças faturada a mais por engano"),
                                                 ("9", "Erro"), ("2", "x" * 400), ("9", "Ação & <cancelada> “já”")])
def test_the_cancellation_event_is_valid_against_the_xsd_and_verifies(reason_code, reason, certificate):
    request_id, signed = events.signed_cancellation(
        KEY, certificate, author_cnpj=CNPJ, environment="2", requested_at=ISSUED, reason_code=reason_code,
        reason=reason)

    assert request_id == f"PRE{KEY}101101" and len(request_id) == 59
    assert schemas.validate(signed, "pedRegEvento") == []
    assert signing.verify(signed, certificate.certificate).reference_id == request_id
    assert _read(signed, "n:infPedReg/n:chNFSe") == KEY
    assert _read(signed, "n:infPedReg/n:CNPJAutor") == CNPJ
    assert _read(signed, "n:infPedReg/n:dhEvento") == "2026-11-30T09:00:00-03:00"
    assert _read(signed, "n:infPedReg/n:e101101/n:xDesc") == "Cancelamento de NFS-e"
    assert _read(signed, "n:infPedReg/n:e101101/n:cMotivo") == reason_code
    assert 15 <= len(_read(signed, "n:infPedReg/n:e101101/n:xMotivo")) <= 255
    with pytest.raises(signing.InvalidSignature):
        signing.verify(signed.replace(f"<cMotivo>{reason_code}</cMotivo>", "<cMotivo>9</cMotivo>")
                       if reason_code != "9" else signed.replace("<cMotivo>9</cMotivo>", "<cMotivo>1</cMotivo>"),
                       certificate.certificate)


def test_a_reason_long_enough_is_written_as_given_and_a_short_one_introduced():
    assert events.reason_text("Quantidade de licenças faturada a mais") == "Quantidade de licenças faturada a mais"
    assert events.reason_text("Erro") == "Cancelamento: Erro"
    assert events.reason_text("   ") == "Cancelamento: motivo não informado"


def test_an_access_key_that_is_not_50_digits_names_no_event():
    with pytest.raises(ValueError):
        events.request_id("123")
