"""The simulated Sefin refuses what the real one refuses first (schema, signature, the signer's
CNPJ), answers one note per DPS, valid against NFSe_v1.01.xsd and signed, and registers a
cancellation event once."""
from datetime import date, datetime, timezone

import pytest
from lxml import etree

from chalicelib.adapters.nfse import (SIMULATED_CERTIFICATE_NOT_THE_AUTHORS, SIMULATED_ID_MISMATCH,
                                      SIMULATED_SCHEMA_FAILURE, SIMULATED_SIGNATURE_FAILURE, NfseCancellationRefused,
                                      NfseRejected, NfseUnavailable, SimulatedNfseEmitter, access_key_check_digit,
                                      simulated_sefin_certificate)
from chalicelib.domain import nfse
from chalicelib.fiscal import dps as fiscal_dps
from chalicelib.fiscal import events, schemas, signing
from local.demo_certificate import demo_a1

NS = {"n": "http://www.sped.fazenda.gov.br/nfse"}
CNPJ = "11222333000181"
REGISTRATION = nfse.ProviderRegistration(cnpj=CNPJ, name="Revenda Ltda", municipal_registration="12345678",
                                         city_code="3550308", simples_nacional="1", special_regime="0")
TERMS = nfse.ServiceTerms(national_code="010501", nbs_code=None, description="Licenciamento", municipal_code=None,
                          iss_taxation="1", iss_withholding="1", iss_rate="0.029", total_taxes_indicator="0")
WHEN = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def certificate():
    return signing.A1Certificate.from_pkcs12(*demo_a1(CNPJ, "REVENDA LTDA"))


def _dps(number=42, amount_cents=123456, provider=REGISTRATION):
    return nfse.Dps(environment="2", issued_at=WHEN, series="1", number=number, competence=date(2026, 11, 30),
                    provider=provider, taker=nfse.Taker(cnpj="45723174000110", name="Cliente", email=None,
                                                        address=None),
                    terms=TERMS, service_city_code="3550308", amount_cents=amount_cents,
                    application_version=nfse.APPLICATION_VERSION)


def _event(key, certificate, author=CNPJ):
    return events.signed_cancellation(key, certificate, author_cnpj=author, environment="2", requested_at=WHEN,
                                      reason_code="9", reason="Fatura cancelada a pedido do cliente")[1]


def _refused(call, *args):
    with pytest.raises(NfseRejected) as refused:
        call(*args)
    return [r.code for r in refused.value.rejections]


def test_a_valid_dps_becomes_a_signed_nfse_valid_against_the_xsd_with_the_dps_inside(certificate):
    emitter = SimulatedNfseEmitter(first_number=7)
    dps_id, signed = fiscal_dps.sign_dps(_dps(), certificate)

    note = emitter.emit(dps_id, signed)

    assert note.number == "7" and note.verification_code is None and note.issued_at == "2026-11-30T09:00:00-03:00"
    assert schemas.validate(note.xml, "NFSe") == []
    key = note.access_key
    assert len(key) == 50 and key.isdigit() and key[:7] == "3550308" and key[9:23] == CNPJ
    assert key[-1] == access_key_check_digit(key[:-1])
    root = etree.fromstring(note.xml.encode())
    assert root.find("n:infNFSe", NS).get("Id") == f"NFS{key}"
    assert signing.verify(note.xml, simulated_sefin_certificate().certificate).reference_id == f"NFS{key}"
    inner = root.find("n:infNFSe/n:DPS", NS)
    assert signing.verify(etree.tostring(inner), certificate.certificate).reference_id == dps_id
    assert root.findtext("n:infNFSe/n:xLocEmi", namespaces=NS) == "São Paulo"
    assert root.findtext("n:infNFSe/n:cStat", namespaces=NS) == "100"
    assert root.findtext("n:infNFSe/n:emit/n:xNome", namespaces=NS) == "REVENDA LTDA"
    assert root.findtext("n:infNFSe/n:valores/n:vISSQN", namespaces=NS) == "35.80"  # 2,9% of 1234.56
    assert emitter.note(key) == note.xml and emitter.note("0" * 50) is None


def test_the_same_dps_again_answers_the_same_note_and_numbers_go_on(certificate):
    emitter = SimulatedNfseEmitter()
    first = emitter.emit(*fiscal_dps.sign_dps(_dps(), certificate))
    again = emitter.emit(*fiscal_dps.sign_dps(_dps(), certificate))
    other = emitter.emit(*fiscal_dps.sign_dps(_dps(number=43), certificate))
    assert again == first and other.number == "2" and other.access_key != first.access_key


def test_a_dps_that_fails_the_schema_is_refused_and_nothing_is_issued(certificate):
    emitter = SimulatedNfseEmitter()
    dps_id, signed = fiscal_dps.sign_dps(_dps(), certificate)
    broken = signed.replace("<tpEmit>1</tpEmit>", "")
    assert _refused(emitter.emit, dps_id, broken) == [SIMULATED_SCHEMA_FAILURE]
    assert _refused(emitter.emit, dps_id, "<DPS>not") == [SIMULATED_SCHEMA_FAILURE]
    assert emitter.emit_requests == [dps_id, dps_id] and emitter._issued == {}


def test_an_unsigned_or_altered_dps_is_refused(certificate):
    emitter = SimulatedNfseEmitter()
    dps = _dps()
    assert _refused(emitter.emit, dps.id, fiscal_dps.dps_xml(dps)) == [SIMULATED_SIGNATURE_FAILURE]
    _, signed = fiscal_dps.sign_dps(dps, certificate)
    altered = signed.replace("<vServ>1234.56</vServ>", "<vServ>1.00</vServ>")
    assert _refused(emitter.emit, dps.id, altered) == [SIMULATED_SIGNATURE_FAILURE]
    assert emitter._issued == {}


def test_a_dps_signed_with_another_cnpj_s_certificate_is_refused():
    emitter = SimulatedNfseEmitter()
    stranger = signing.A1Certificate.from_pkcs12(*demo_a1("99888777000166", "OUTRA LTDA"))
    assert _refused(emitter.emit, *fiscal_dps.sign_dps(_dps(), stranger)) == [SIMULATED_CERTIFICATE_NOT_THE_AUTHORS]


def test_a_dps_sent_under_another_id_is_refused(certificate):
    emitter = SimulatedNfseEmitter()
    _, signed = fiscal_dps.sign_dps(_dps(), certificate)
    assert _refused(emitter.emit, _dps(number=43).id, signed) == [SIMULATED_ID_MISMATCH]


def test_the_hooks_fail_or_reject_the_next_dps_then_let_them_through(certificate):
    emitter = SimulatedNfseEmitter()
    sent = fiscal_dps.sign_dps(_dps(), certificate)
    emitter.fail_next_emit(1)
    with pytest.raises(NfseUnavailable):
        emitter.emit(*sent)
    reasons = (nfse.Rejection("E0312", "Código de tributação nacional inexistente"),)
    emitter.reject_next(reasons, count=2)
    for _ in range(2):
        with pytest.raises(NfseRejected) as refused:
            emitter.emit(*sent)
        assert refused.value.rejections == reasons
    assert emitter.emit(*sent).number == "1" and len(emitter.emit_requests) == 4


def test_a_cancellation_is_registered_once_as_a_signed_evento_valid_against_the_xsd(certificate):
    emitter = SimulatedNfseEmitter()
    note = emitter.emit(*fiscal_dps.sign_dps(_dps(), certificate))
    event = _event(note.access_key, certificate)

    cancelled = emitter.cancel(note.access_key, event)

    assert schemas.validate(cancelled.xml, "evento") == []
    assert cancelled.number == note.access_key and cancelled.protocol == f"EVT{note.access_key}101101001"
    assert signing.verify(cancelled.xml, simulated_sefin_certificate().certificate).reference_id == cancelled.protocol
    inner = etree.fromstring(cancelled.xml.encode()).find("n:infEvento/n:pedRegEvento", NS)
    assert signing.verify(etree.tostring(inner), certificate.certificate).reference_id == f"PRE{note.access_key}101101"
    assert emitter.cancellation(note.access_key) == cancelled
    with pytest.raises(NfseCancellationRefused) as again:
        emitter.cancel(note.access_key, event)
    assert again.value.reason == "already_cancelled"
    assert [(r["access_key"], r["reason_code"]) for r in emitter.cancel_requests] == [(note.access_key, "9")] * 2


def test_a_cancellation_of_an_unknown_note_or_an_invalid_event_is_refused(certificate):
    emitter = SimulatedNfseEmitter()
    note = emitter.emit(*fiscal_dps.sign_dps(_dps(), certificate))
    unknown = "3550308" + "1" * 42 + "0"
    with pytest.raises(NfseCancellationRefused) as refused:
        emitter.cancel(unknown, _event(unknown, certificate))
    assert refused.value.reason == "unknown_note"
    cases = {
        SIMULATED_SIGNATURE_FAILURE: _event(note.access_key, certificate).replace("<cMotivo>9", "<cMotivo>1"),
        SIMULATED_SCHEMA_FAILURE: _event(note.access_key, certificate).replace("<tpAmb>2</tpAmb>", ""),
        SIMULATED_ID_MISMATCH: _event(unknown, certificate),
    }
    for code, event in cases.items():
        with pytest.raises(NfseCancellationRefused) as refused:
            emitter.cancel(note.access_key, event)
        assert (refused.value.reason, [r.code for r in refused.value.rejections]) == ("rejected", [code])
    # Another company cannot cancel the reseller's note, even with its own valid signature.
    stranger = signing.A1Certificate.from_pkcs12(*demo_a1("99888777000166", "OUTRA LTDA"))
    with pytest.raises(NfseCancellationRefused) as refused:
        emitter.cancel(note.access_key, _event(note.access_key, stranger, author="99888777000166"))
    assert [r.code for r in refused.value.rejections] == [SIMULATED_CERTIFICATE_NOT_THE_AUTHORS]
    assert emitter.cancellation(note.access_key) is None


def test_an_outage_on_cancel_is_recorded_and_leaves_the_note_as_it_was(certificate):
    emitter = SimulatedNfseEmitter()
    note = emitter.emit(*fiscal_dps.sign_dps(_dps(), certificate))
    emitter.fail_next_cancel(1)
    with pytest.raises(NfseUnavailable):
        emitter.cancel(note.access_key, _event(note.access_key, certificate))
    assert emitter.cancellation(note.access_key) is None and len(emitter.cancel_requests) == 1
    assert emitter.cancel(note.access_key, _event(note.access_key, certificate)).number == note.access_key
