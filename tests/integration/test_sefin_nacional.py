"""The real Sefin Nacional adapter over the wire: a local HTTPS server that demands a client
certificate from a test authority and answers the published contract (tests/fakes/sefin_nacional.py).
No AWS: the adapter takes the A1 from a callable, as the container gives it from Secrets Manager."""
from __future__ import annotations

import logging
import os
import stat
import xml.etree.ElementTree as ElementTree
from datetime import datetime, timezone

import pytest
import urllib3
from cryptography.hazmat.primitives import serialization
from lxml import etree

from chalicelib.adapters.nfse import (IssuedNfse, NfseCancellation, NfseCancellationRefused, NfseRejected,
                                      NfseUnavailable, simulated_sefin_certificate)
from chalicelib.adapters.sefin_nacional import DPS_COLLISION, SefinNacionalEmitter, pack, unpack
from chalicelib.fiscal import schemas, signing
from tests.fakes.sefin_nacional import (ALREADY_CANCELLED, DUPLICATE_DPS, SCHEMA_FAILURE, SIGNATURE_FAILURE,
                                        CertificateAuthority, FakeSefinNacional)

CNPJ = "11222333000181"
CITY = "3550308"
NS = "http://www.sped.fazenda.gov.br/nfse"


def dps_id(number: int) -> str:
    # DPS + município (7) + 2 (CNPJ) + CNPJ (14) + série (5) + número (15)
    return f"DPS{CITY}2{CNPJ}{1:05d}{number:015d}"


def dps_xml(number: int, amount: str = "1500.00", cnpj: str = CNPJ, taker: str = "44555666000172",
            competence: str = "2026-11-30") -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><DPS xmlns="{NS}" versao="1.01">'
        f'<infDPS Id="{dps_id(number)}"><tpAmb>2</tpAmb><dhEmi>2026-11-30T09:15:00-03:00</dhEmi>'
        f"<verAplic>csp-portal-1.0</verAplic><serie>1</serie><nDPS>{number}</nDPS><dCompet>{competence}</dCompet>"
        f"<tpEmit>1</tpEmit><cLocEmi>{CITY}</cLocEmi>"
        f"<prest><CNPJ>{cnpj}</CNPJ><IM>12345678</IM><regTrib><opSimpNac>1</opSimpNac>"
        "<regEspTrib>0</regEspTrib></regTrib></prest>"
        f"<toma><CNPJ>{taker}</CNPJ><xNome>Cliente Exemplo Ltda</xNome></toma>"
        f"<serv><locPrest><cLocPrestacao>{CITY}</cLocPrestacao></locPrest><cServ><cTribNac>010501</cTribNac>"
        "<xDescServ>Licenciamento de uso de programas de computação (Microsoft CSP)</xDescServ></cServ></serv>"
        f"<valores><vServPrest><vServ>{amount}</vServ></vServPrest><trib><tribMun><tribISSQN>1</tribISSQN>"
        "<tpRetISSQN>1</tpRetISSQN></tribMun><totTrib><indTotTrib>0</indTotTrib></totTrib></trib></valores>"
        "</infDPS></DPS>")


def cancellation_xml(access_key: str, cnpj: str = CNPJ) -> str:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><pedRegEvento xmlns="{NS}" versao="1.01">'
        f'<infPedReg Id="PRE{access_key}101101"><tpAmb>2</tpAmb><verAplic>csp-portal-1.0</verAplic>'
        f"<dhEvento>2026-11-30T10:00:00-03:00</dhEvento><CNPJAutor>{cnpj}</CNPJAutor><chNFSe>{access_key}</chNFSe>"
        "<e101101><xDesc>Cancelamento de NFS-e</xDesc><cMotivo>1</cMotivo>"
        "<xMotivo>Valor informado com erro na emissão</xMotivo></e101101></infPedReg></pedRegEvento>")


@pytest.fixture(scope="module")
def authority():
    return CertificateAuthority()


@pytest.fixture(scope="module")
def a1(authority):
    data, password = authority.issue_a1(CNPJ, "BRASOFTWARE CLOUD LTDA")
    return signing.A1Certificate.from_pkcs12(data, password)


@pytest.fixture
def sefin(authority):
    with FakeSefinNacional(authority) as server:
        yield server


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def emitter(sefin, a1, sleeps):
    return SefinNacionalEmitter(sefin.url, lambda: a1, timeout_seconds=5.0, attempts=3, backoff_seconds=1.0,
                                ca_bundle=sefin.ca_bundle, sleep=sleeps)


def signed_dps(a1, number: int = 1, **values) -> str:
    xml = signing.sign(dps_xml(number, **values), dps_id(number), a1)
    assert schemas.validate(xml, "DPS") == []
    return xml


def signed_event(a1, access_key: str) -> str:
    xml = signing.sign(cancellation_xml(access_key), f"PRE{access_key}101101", a1)
    assert schemas.validate(xml, "pedRegEvento") == []
    return xml


def test_a_signed_dps_becomes_a_note_with_its_access_key_over_mutual_tls(sefin, emitter, a1):
    dps = signed_dps(a1, 7)

    note = emitter.emit(dps_id(7), dps)

    assert isinstance(note, IssuedNfse)
    assert len(note.access_key) == 50 and note.access_key.isdigit()
    assert note.access_key.startswith(f"{CITY}22{CNPJ}")
    assert sefin.notes == {note.access_key: note.xml}
    assert note.number == "1" and note.issued_at.startswith("20") and note.verification_code is None
    # The note carries the DPS as it was signed, and that signature still verifies.
    assert f'Id="{dps_id(7)}"' in note.xml
    inner = etree.tostring(etree.fromstring(note.xml.encode()).find(f"{{{NS}}}infNFSe/{{{NS}}}DPS"))
    assert signing.verify(inner, a1.certificate).reference_id == dps_id(7)
    [call] = sefin.requests
    assert (call.method, call.path) == ("POST", "/SefinNacional/nfse")
    assert f"CN=BRASOFTWARE CLOUD LTDA:{CNPJ}" in call.client_subject
    assert set(call.body) == {"dpsXmlGZipB64"} and unpack(call.body["dpsXmlGZipB64"]) == dps


def test_the_same_dps_sent_again_answers_the_note_it_generated(sefin, emitter, a1):
    first = emitter.emit(dps_id(3), signed_dps(a1, 3))

    again = emitter.emit(dps_id(3), signed_dps(a1, 3))

    assert again.access_key == first.access_key and again.number == first.number
    assert len(sefin.notes) == 1
    # The Sefin refused the second as a duplicate; the adapter asked which note the DPS made.
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in sefin.requests] == [
        ("POST", "nfse"), ("POST", "nfse"), ("GET", dps_id(3)), ("GET", first.access_key)]


def test_a_client_without_a_certificate_is_refused_by_the_server(sefin):
    pool = urllib3.PoolManager(cert_reqs="CERT_REQUIRED", ca_certs=sefin.ca_bundle, retries=False)

    with pytest.raises((urllib3.exceptions.HTTPError, OSError)):
        pool.request("POST", sefin.url + "/nfse", body=b"{}", timeout=5)

    assert sefin.wait_for_refused_handshakes(1) == 1
    assert sefin.requests == []


def test_an_a1_from_another_authority_is_refused_and_nothing_is_issued(sefin, sleeps):
    stranger = CertificateAuthority("AC Desconhecida")
    data, password = stranger.issue_a1(CNPJ)
    foreign = signing.A1Certificate.from_pkcs12(data, password)
    emitter = SefinNacionalEmitter(sefin.url, lambda: foreign, timeout_seconds=5.0, attempts=2,
                                   ca_bundle=sefin.ca_bundle, sleep=sleeps)

    with pytest.raises(NfseUnavailable) as failure:
        emitter.emit(dps_id(1), signed_dps(foreign, 1))

    # Under TLS 1.3 the client learns of the refusal after its handshake: as the server's alert
    # (most often) or as the connection reset behind it.
    assert "after 2 attempts" in str(failure.value)
    assert "TLS handshake failed" in str(failure.value) or "ProtocolError" in str(failure.value)
    assert sefin.wait_for_refused_handshakes(2) == 2
    assert sefin.requests == [] and sefin.notes == {}


def test_a_server_the_bundle_does_not_trust_is_not_talked_to(sefin, a1, sleeps):
    """The client verifies the server too: with another authority's bundle, no request leaves."""
    other = CertificateAuthority("AC Outra")
    path = os.path.join(os.path.dirname(sefin.ca_bundle), "other-ca.pem")
    with open(path, "wb") as handle:
        handle.write(other.certificate_pem)
    emitter = SefinNacionalEmitter(sefin.url, lambda: a1, attempts=1, ca_bundle=path, sleep=sleeps)

    with pytest.raises(NfseUnavailable) as failure:
        emitter.emit(dps_id(1), signed_dps(a1, 1))

    assert "CERTIFICATE_VERIFY_FAILED" in str(failure.value)
    assert sefin.requests == [] and sefin.notes == {}


def test_a_refusal_with_e_codes_carries_each_code_and_message(sefin, emitter, a1, sleeps):
    sefin.refuse_next("emit", ("E0310", "Código de tributação nacional inexistente."),
                      ("E0116", "Inscrição municipal do prestador não confere."))

    with pytest.raises(NfseRejected) as refused:
        emitter.emit(dps_id(2), signed_dps(a1, 2))

    assert [(r.code, r.message) for r in refused.value.rejections] == [
        ("E0310", "Código de tributação nacional inexistente."),
        ("E0116", "Inscrição municipal do prestador não confere.")]
    assert "E0310" in str(refused.value)
    assert sefin.notes == {} and len(sefin.calls("POST")) == 1 and sleeps == []


def test_a_dps_that_fails_the_schema_is_refused_by_the_server(sefin, emitter, a1):
    broken = signed_dps(a1, 4).replace("<tpEmit>1</tpEmit>", "")

    with pytest.raises(NfseRejected) as refused:
        emitter.emit(dps_id(4), broken)

    codes = {r.code for r in refused.value.rejections}
    assert codes == {SCHEMA_FAILURE}
    assert any("tpEmit" in (r.detail or "") for r in refused.value.rejections)
    assert sefin.notes == {}


def test_a_dps_changed_after_signing_is_refused_for_its_signature(sefin, emitter, a1):
    tampered = signed_dps(a1, 5).replace("<vServ>1500.00</vServ>", "<vServ>15.00</vServ>")

    with pytest.raises(NfseRejected) as refused:
        emitter.emit(dps_id(5), tampered)

    assert [r.code for r in refused.value.rejections] == [SIGNATURE_FAILURE]
    assert sefin.notes == {}


def test_two_5xx_then_success_gives_one_note_and_each_retry_asked_for_the_dps_first(sefin, emitter, a1, sleeps):
    sefin.fail_next("emit", 2, status=503)

    note = emitter.emit(dps_id(6), signed_dps(a1, 6))

    assert len(sefin.notes) == 1 and note.access_key in sefin.notes
    assert [(r.method, r.path.split("/")[2]) for r in sefin.requests] == [
        ("POST", "nfse"), ("GET", "dps"), ("POST", "nfse"), ("GET", "dps"), ("POST", "nfse")]
    assert sleeps == [1.0, 2.0]


def test_5xx_every_time_is_unavailable_after_the_attempts(sefin, emitter, a1, sleeps):
    sefin.fail_next("emit", 10, status=502)

    with pytest.raises(NfseUnavailable) as failure:
        emitter.emit(dps_id(8), signed_dps(a1, 8))

    assert len(sefin.calls("POST", "/SefinNacional/nfse")) == 3
    assert sefin.notes == {}
    assert "HTTP 502" in str(failure.value) and dps_id(8) in str(failure.value)
    assert sleeps == [1.0, 2.0]


def test_a_lost_answer_is_recovered_from_the_dps_without_a_second_post(sefin, a1, sleeps):
    emitter = SefinNacionalEmitter(sefin.url, lambda: a1, timeout_seconds=0.5, attempts=3,
                                   ca_bundle=sefin.ca_bundle, sleep=sleeps)
    sefin.delay_next("emit", 1.5)

    note = emitter.emit(dps_id(9), signed_dps(a1, 9))

    assert list(sefin.notes) == [note.access_key]
    assert len(sefin.calls("POST")) == 1
    assert [r.path.split("/")[2] for r in sefin.calls("GET")] == ["dps", "nfse"]
    assert note.xml == sefin.notes[note.access_key]


def test_a_cancellation_event_is_registered(sefin, emitter, a1):
    note = emitter.emit(dps_id(10), signed_dps(a1, 10))
    event = signed_event(a1, note.access_key)

    cancellation = emitter.cancel(note.access_key, event)

    assert isinstance(cancellation, NfseCancellation)
    assert cancellation.number == note.access_key
    assert cancellation.protocol == f"EVT{note.access_key}101101001"
    assert cancellation.registered_at.startswith("20")
    assert f"<chNFSe>{note.access_key}</chNFSe>" in cancellation.xml
    assert sefin.is_cancelled(note.access_key)
    [call] = sefin.calls("POST", f"/SefinNacional/nfse/{note.access_key}/eventos")
    assert set(call.body) == {"pedidoRegistroEventoXmlGZipB64"}
    assert unpack(call.body["pedidoRegistroEventoXmlGZipB64"]) == event


def test_a_second_cancellation_is_refused_as_already_cancelled(sefin, emitter, a1):
    note = emitter.emit(dps_id(11), signed_dps(a1, 11))
    emitter.cancel(note.access_key, signed_event(a1, note.access_key))

    with pytest.raises(NfseCancellationRefused) as refused:
        emitter.cancel(note.access_key, signed_event(a1, note.access_key))

    assert refused.value.reason == "already_cancelled"
    assert [r.code for r in refused.value.rejections] == [ALREADY_CANCELLED]


def test_cancelling_an_unknown_note_is_refused_as_unknown(sefin, emitter, a1):
    unknown = "3" * 50

    with pytest.raises(NfseCancellationRefused) as refused:
        emitter.cancel(unknown, signed_event(a1, unknown))

    assert refused.value.reason == "unknown_note"


def test_an_event_refused_for_another_reason_carries_its_codes(sefin, emitter, a1):
    note = emitter.emit(dps_id(12), signed_dps(a1, 12))
    sefin.refuse_next("event", ("E0836", "Prazo para cancelamento esgotado."))

    with pytest.raises(NfseCancellationRefused) as refused:
        emitter.cancel(note.access_key, signed_event(a1, note.access_key))

    assert refused.value.reason == "rejected"
    assert [(r.code, r.message) for r in refused.value.rejections] == [("E0836", "Prazo para cancelamento esgotado.")]
    assert not sefin.is_cancelled(note.access_key)


def test_an_event_meets_a_5xx_then_is_registered(sefin, emitter, a1, sleeps):
    note = emitter.emit(dps_id(13), signed_dps(a1, 13))
    sefin.fail_next("event", 1, status=500)

    emitter.cancel(note.access_key, signed_event(a1, note.access_key))

    assert sefin.is_cancelled(note.access_key) and sleeps == [1.0]


def test_a_note_is_read_by_its_access_key_and_an_unknown_one_is_none(sefin, emitter, a1):
    note = emitter.emit(dps_id(14), signed_dps(a1, 14))

    assert emitter.note(note.access_key) == note.xml
    assert emitter.note("1" * 50) is None
    assert emitter.find_by_dps(dps_id(14)) == note.access_key
    assert emitter.find_by_dps(dps_id(15)) is None


def test_queries_meeting_an_outage_are_retried_then_unavailable(sefin, emitter, a1, sleeps):
    note = emitter.emit(dps_id(19), signed_dps(a1, 19))
    sefin.fail_next("nfse", 1)
    sefin.fail_next("dps", 3)

    assert emitter.note(note.access_key) == note.xml
    with pytest.raises(NfseUnavailable):
        emitter.find_by_dps(dps_id(19))

    assert len(sefin.calls("GET", "/SefinNacional/dps/")) == 3 and sleeps == [1.0, 1.0, 2.0]


def test_ids_that_are_not_the_layouts_are_refused_before_anything_is_sent(sefin, emitter, a1):
    for call in (lambda: emitter.note("../dps/" + "1" * 43), lambda: emitter.cancel("1" * 49, "<x/>"),
                 lambda: emitter.emit("DPS1", "<x/>"), lambda: emitter.find_by_dps("DPS" + "1" * 41 + "/")):
        with pytest.raises(ValueError):
            call()

    assert sefin.requests == []


def test_a_dps_sent_under_another_dps_id_is_refused_before_anything_is_sent(sefin, emitter, a1):
    """The id is what a lost answer is recovered by: a mismatch would fetch another invoice's note."""
    first = emitter.emit(dps_id(20), signed_dps(a1, 20))

    with pytest.raises(ValueError):
        emitter.emit(dps_id(20), signed_dps(a1, 21))

    assert list(sefin.notes) == [first.access_key] and len(sefin.requests) == 1


@pytest.mark.parametrize("answer", [
    {"idDps": "x", "nfseXmlGZipB64": "H4sI"},  # no access key
    {"chaveAcesso": "1" * 50, "nfseXmlGZipB64": "não é base64"},
    {"chaveAcesso": "../../dps/" + "1" * 40, "nfseXmlGZipB64": ""},
])
def test_a_201_that_does_not_carry_a_note_is_unavailable_not_issued(sefin, emitter, a1, answer):
    sefin.answer_next("emit", 201, answer)

    with pytest.raises(NfseUnavailable) as failure:
        emitter.emit(dps_id(22), signed_dps(a1, 22))

    assert dps_id(22) in str(failure.value)
    assert len(sefin.requests) == 1


def test_a_dps_lookup_answering_a_key_that_is_not_one_is_not_followed(sefin, emitter, a1):
    sefin.fail_next("emit", 1)
    sefin.answer_next("dps", 200, {"idDps": dps_id(23), "chaveAcesso": "../../admin"})

    with pytest.raises(NfseUnavailable):
        emitter.emit(dps_id(23), signed_dps(a1, 23))

    assert [(r.method, r.path.split("/")[2]) for r in sefin.requests] == [("POST", "nfse"), ("GET", "dps")]


def test_the_key_on_disk_is_encrypted_private_and_never_logged(sefin, emitter, a1, caplog):
    caplog.set_level(logging.DEBUG)
    sefin.fail_next("emit", 1)
    sefin.refuse_next("emit", ("E0310", "Código de tributação nacional inexistente."))
    dps = signed_dps(a1, 16)

    with pytest.raises(NfseRejected) as refused:
        emitter.emit(dps_id(16), dps)

    directory = emitter.tls_directory
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    files = sorted(os.listdir(directory))
    assert files == ["client.key", "client.pem"]
    for name in files:
        assert stat.S_IMODE(os.stat(os.path.join(directory, name)).st_mode) == 0o600
    with open(os.path.join(directory, "client.key"), "rb") as handle:
        key = handle.read()
    assert key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError):  # no password, no key
        serialization.load_pem_private_key(key, password=None)
    said = caplog.text + str(refused.value)
    assert "PRIVATE KEY" not in said and pack(dps) not in said and "<DPS" not in said
    assert dps_id(16) in caplog.text and "E0310" in caplog.text


def test_the_directory_goes_with_the_emitter(sefin, a1, sleeps):
    emitter = SefinNacionalEmitter(sefin.url, lambda: a1, ca_bundle=sefin.ca_bundle, sleep=sleeps)
    assert emitter.note("1" * 50) is None
    directory = emitter.tls_directory
    assert os.path.isdir(directory)

    del emitter

    assert not os.path.exists(directory)


def test_the_certificate_is_asked_for_once(sefin, a1, sleeps):
    asked = []

    def certificate():
        asked.append(datetime.now(timezone.utc))
        return a1

    emitter = SefinNacionalEmitter(sefin.url, certificate, ca_bundle=sefin.ca_bundle, sleep=sleeps)
    emitter.emit(dps_id(17), signed_dps(a1, 17))
    emitter.note("1" * 50)

    assert len(asked) == 1


def test_a_duplicate_refusal_with_no_note_behind_it_is_a_rejection(sefin, emitter, a1):
    sefin.refuse_next("emit", (DUPLICATE_DPS, "DPS já utilizada para gerar uma NFS-e"))

    with pytest.raises(NfseRejected) as refused:
        emitter.emit(dps_id(18), signed_dps(a1, 18))

    assert [r.code for r in refused.value.rejections] == [DUPLICATE_DPS]
    assert sefin.notes == {}



def test_without_certifi_the_server_is_verified_against_botocores_bundle(monkeypatch):
    """The Lambda package has no certifi: the Sefin is then checked as botocore checks AWS."""
    import sys

    from botocore.httpsession import DEFAULT_CA_BUNDLE

    from chalicelib.adapters import sefin_nacional

    monkeypatch.setitem(sys.modules, "certifi", None)

    assert sefin_nacional._default_ca_bundle() == DEFAULT_CA_BUNDLE


@pytest.mark.parametrize("theirs, field", [
    ({"amount": "99.00"}, "vServ"),
    ({"taker": "45723174000110"}, "tomador (CNPJ)"),
    ({"competence": "2026-10-31"}, "dCompet"),
])
def test_a_duplicate_refusal_for_another_systems_note_is_refused_not_adopted(sefin, emitter, a1, caplog, theirs,
                                                                              field):
    """An old ERP (or a table restarting its numbers) used the same series and number: the Sefin
    answers E0014 and holds its note for the DPS id; that note declares something else, so the
    invoice must not adopt (and email) it."""
    foreign = emitter.emit(dps_id(30), signed_dps(a1, 30, **theirs))

    with pytest.raises(NfseRejected) as refused:
        emitter.emit(dps_id(30), signed_dps(a1, 30))

    [rejection] = refused.value.rejections
    assert rejection.code == DPS_COLLISION
    assert dps_id(30) in rejection.message and foreign.access_key in rejection.message
    assert "NFSE_DPS_SERIES" in rejection.message and field in rejection.detail
    # Nothing new at the Sefin: the foreign note is the only one, and it was only read.
    assert list(sefin.notes) == [foreign.access_key]
    assert len(sefin.calls("POST")) == 2
    assert "not adopted" in caplog.text and "44555666000172" not in caplog.text


def test_a_lost_answer_lookup_finding_another_systems_note_is_refused_not_adopted(sefin, emitter, a1, sleeps):
    foreign = emitter.emit(dps_id(31), signed_dps(a1, 31, taker="45723174000110"))
    sefin.fail_next("emit", 1)

    with pytest.raises(NfseRejected) as refused:
        emitter.emit(dps_id(31), signed_dps(a1, 31))

    assert [r.code for r in refused.value.rejections] == [DPS_COLLISION]
    assert "45723174000110" in refused.value.rejections[0].detail
    assert list(sefin.notes) == [foreign.access_key]
    # The retry asked which note the DPS made, read it, and sent nothing more.
    assert [(r.method, r.path.split("/")[2]) for r in sefin.requests[1:]] == [
        ("POST", "nfse"), ("GET", "dps"), ("GET", "nfse")]


def test_the_note_answered_is_a_valid_signed_nfse_whose_number_and_date_the_adapter_reads(sefin, emitter, a1):
    """The fake answers what the Sefin answers (a note valid against NFSe_v1.01.xsd, signed by the
    Sefin): the adapter's IssuedNfse carries it as it came, with its nNFSe and dhProc."""
    emitter.emit(dps_id(40), signed_dps(a1, 40))
    note = emitter.emit(dps_id(41), signed_dps(a1, 41))

    assert schemas.validate(note.xml, "NFSe") == []
    assert signing.verify(note.xml, simulated_sefin_certificate().certificate).reference_id == f"NFS{note.access_key}"
    root = ElementTree.fromstring(note.xml)
    info = root.find(f"{{{NS}}}infNFSe")
    assert info.get("Id") == f"NFS{note.access_key}"
    assert note.number == info.findtext(f"{{{NS}}}nNFSe") == "2"
    assert note.issued_at == info.findtext(f"{{{NS}}}dhProc") and note.issued_at.startswith("20")
    assert info.findtext(f"{{{NS}}}DPS/{{{NS}}}infDPS/{{{NS}}}nDPS") == "41"
    assert emitter.note(note.access_key) == note.xml


def test_a_recovered_note_without_the_dps_inside_is_not_adopted(sefin, emitter, a1):
    """Nothing to compare is no proof the note is this DPS's."""
    key = "3550308" + "22" + CNPJ + f"{99:013d}" + "2611" + "123456789" + "0"
    bare = (f'<NFSe xmlns="{NS}" versao="1.01"><infNFSe Id="NFS{key}"><nNFSe>99</nNFSe>'
            "<dhProc>2026-11-30T09:15:00-03:00</dhProc></infNFSe></NFSe>")
    sefin.fail_next("emit", 1)
    sefin.answer_next("dps", 200, {"idDps": dps_id(32), "chaveAcesso": key})
    sefin.answer_next("nfse", 200, {"chaveAcesso": key, "nfseXmlGZipB64": pack(bare)})

    with pytest.raises(NfseRejected) as refused:
        emitter.emit(dps_id(32), signed_dps(a1, 32))

    [rejection] = refused.value.rejections
    assert rejection.code == DPS_COLLISION and rejection.detail == "a nota não traz a DPS enviada"
    assert len(sefin.calls("POST")) == 1 and sefin.notes == {}
