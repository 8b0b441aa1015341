"""The national NFS-e end to end: the note a billing run emits, read back from S3, is valid against
NFSe_v1.01.xsd, the Sefin's signature verifies and the DPS inside verifies with the reseller's
certificate (the one in Secrets Manager); a cancelled invoice's event is valid and recorded."""
from dataclasses import replace

import pytest
from lxml import etree

from chalicelib.adapters.nfse import NfseCancellationRefused, SimulatedNfseEmitter, simulated_sefin_certificate
from chalicelib.domain.addresses import Address
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.nfse import Rejection
from chalicelib.fiscal import schemas, signing
from tests.support import TEST_ADDRESS, billed_in_november, sp

NS = {"n": "http://www.sped.fazenda.gov.br/nfse"}
REASON = "Fatura emitida com a quantidade de licenças errada"
ADDRESS = Address(cep="20040002", street="Av. Rio Branco", number="156", district="Centro", city_code="3304557",
                  city="Rio de Janeiro", state="RJ", complement="sala 1201 & 1202")


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock




def _reseller_certificate(world):
    return world.deps.nfse_certificate.certificate().certificate


def _inner(xml: bytes, path: str) -> bytes:
    return etree.tostring(etree.fromstring(xml).find(path, NS))


def test_a_billing_run_s_nfse_is_valid_signed_by_the_sefin_and_carries_the_dps_signed_by_the_reseller(world, clock):
    org, _, invoice = billed_in_november(world, clock)
    note = invoice.nfse
    xml = world.deps.documents.get(note.xml_key)

    assert schemas.validate(xml, "NFSe") == []
    key = note.access_key
    assert len(key) == 50 and key.isdigit() and note.verification_code is None
    assert signing.verify(xml, simulated_sefin_certificate().certificate).reference_id == f"NFS{key}"
    dps = _inner(xml, "n:infNFSe/n:DPS")
    assert schemas.validate(dps, "DPS") == []
    settings = world.deps.settings
    verified = signing.verify(dps, _reseller_certificate(world))
    assert verified.reference_id.startswith(f"DPS{settings.nfse_registration.city_code}2{settings.beneficiary_cnpj}")
    root = etree.fromstring(xml)
    read = lambda path: root.findtext(f"n:infNFSe/n:DPS/n:infDPS/{path}", namespaces=NS)  # noqa: E731
    # What the DPS declares: the invoice's number, period, total, the customer, the settings' terms.
    assert read("n:nDPS") == str(invoice.number) and read("n:dCompet") == invoice.period_end.isoformat()
    assert read("n:dhEmi") == "2026-11-11T09:00:00-03:00"  # São Paulo time of the run, whole seconds
    assert read("n:tpAmb") == settings.nfse_environment
    assert read("n:prest/n:CNPJ") == settings.beneficiary_cnpj
    assert read("n:toma/n:CNPJ") == org.organization.cnpj and read("n:toma/n:xNome") == org.organization.name
    # The customer's address on record (the World's organisations are onboarded with one).
    assert [read(p) for p in ("n:toma/n:end/n:endNac/n:cMun", "n:toma/n:end/n:endNac/n:CEP", "n:toma/n:end/n:nro")] == [
        TEST_ADDRESS.city_code, TEST_ADDRESS.cep, TEST_ADDRESS.number]
    assert read("n:serv/n:cServ/n:cTribNac") == settings.nfse_terms.national_code
    total = invoice.total_cents
    assert read("n:valores/n:vServPrest/n:vServ") == f"{total // 100}.{total % 100:02d}"
    assert read("n:valores/n:trib/n:tribMun/n:pAliq") == "2.90"
    # The emitter holds the same note; the API answers its access key.
    assert world.deps.nfse_emitter.note(key) == xml.decode()
    view = world.call("GET", f"/invoices/{invoice.id}/nfse", org.master).json_body
    assert (view["number"], view["access_key"], view["verification_code"]) == (note.number, key, None)


def test_the_customer_s_address_on_record_is_declared_in_the_dps(world, clock):
    # On record, as onboarding keeps it: the billing worker reads it with the contract (issue #22 §1).
    _, _, invoice = billed_in_november(world, clock, address=ADDRESS)
    xml = world.deps.documents.get(invoice.nfse.xml_key)
    assert schemas.validate(xml, "NFSe") == []
    address = etree.fromstring(xml).find("n:infNFSe/n:DPS/n:infDPS/n:toma/n:end", NS)
    assert [address.findtext(p, namespaces=NS) for p in ("n:endNac/n:cMun", "n:endNac/n:CEP", "n:xLgr", "n:nro",
                                                          "n:xCpl", "n:xBairro")] == [
        "3304557", "20040002", "Av. Rio Branco", "156", "sala 1201 & 1202", "Centro"]


def test_a_cancelled_invoice_s_note_is_cancelled_by_a_valid_signed_event_that_is_recorded(world, clock):
    org, operator, invoice = billed_in_november(world, clock)
    clock.now = sp(2026, 11, 12, 10)
    emitter = world.deps.nfse_emitter

    response = world.call("POST", f"/backoffice/invoices/{invoice.id}/cancel", operator, {"reason": REASON})

    assert response.status_code == 200, response.json_body
    key = invoice.nfse.access_key
    [request] = emitter.cancel_requests
    assert (request["access_key"], request["reason_code"], request["reason_text"]) == (key, "9", REASON)
    assert request["requested_at"] == "2026-11-12T10:00:00-03:00"
    pedido = request["xml"]
    assert schemas.validate(pedido, "pedRegEvento") == []
    assert signing.verify(pedido, _reseller_certificate(world)).reference_id == f"PRE{key}101101"
    event = emitter.cancellation(key)
    assert schemas.validate(event.xml, "evento") == []
    assert signing.verify(event.xml, simulated_sefin_certificate().certificate).reference_id == event.protocol
    # Recorded: the cancellation answers the event's id as its protocol, on the invoice and the trail.
    assert response.json_body["cancellation"]["nfse_protocol"] == event.protocol == f"EVT{key}101101001"
    assert world.deps.invoices.get(invoice.id).cancellation.nfse_protocol == event.protocol
    trail = [e for e in world.call("GET", "/audit", org.master).json_body["items"] if e["action"] == "invoice.cancelled"]
    assert [e["after"]["nfse_protocol"] for e in trail] == [event.protocol]


def test_a_dps_the_emitter_refuses_for_its_signature_leaves_the_invoice_without_a_note(world, clock, monkeypatch):
    """The product signs with the certificate in Secrets Manager: one of another CNPJ there is
    refused by the emitter, and no note is stored for the invoice."""
    from chalicelib.fiscal.signing import A1Certificate
    from local.demo_certificate import demo_a1

    stranger = A1Certificate.from_pkcs12(*demo_a1("99888777000166", "OUTRA LTDA"))
    monkeypatch.setattr(world.deps.nfse_certificate, "certificate", lambda: stranger)
    emitter = world.deps.nfse_emitter
    assert isinstance(emitter, SimulatedNfseEmitter)
    org = world.organization(closing_day=10)
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    clock.now = sp(2026, 11, 11, 9)
    world.call("POST", "/backoffice/billing-runs", world.operator(), {"period": "2026-11"})
    world.drain_queues()

    assert emitter.emit_requests and emitter._issued == {}
    invoices = world.call("GET", "/invoices", org.master).json_body["items"]
    assert all(world.deps.invoices.get(i["id"]).nfse is None for i in invoices)


def test_a_note_from_before_the_national_nfse_cannot_be_cancelled_and_nothing_changes(world, clock):
    org, operator, invoice = billed_in_november(world, clock)
    old_note = replace(invoice.nfse, access_key=None, verification_code="A1B2C3D4E")
    world.deps.invoices.save(replace(invoice, nfse=old_note, version=invoice.version + 1),
                             expected_version=invoice.version)
    world.deps.bank.calls.clear()
    world.drain_queues()
    outbox = len(world.outbox())

    response = world.call("POST", f"/backoffice/invoices/{invoice.id}/cancel", operator, {"reason": REASON})

    assert (response.status_code, response.json_body["error"]["code"]) == (409, "nfse_cancellation_refused")
    assert "nota sem chave de acesso" in response.json_body["error"]["message"]
    assert world.deps.nfse_emitter.cancel_requests == [] and world.deps.bank.calls == []  # boleto still payable
    after = world.deps.invoices.get(invoice.id)
    assert after.status == invoice.status and after.cancellation is None and after.version == invoice.version + 1
    world.drain_queues()
    assert len(world.outbox()) == outbox
    assert [e for e in world.call("GET", "/audit", org.master).json_body["items"]
            if e["action"] == "invoice.cancelled"] == []
    view = world.call("GET", f"/invoices/{invoice.id}/nfse", org.master).json_body
    assert (view["access_key"], view["verification_code"]) == (None, "A1B2C3D4E")


def test_a_cancellation_the_national_system_refuses_leaves_the_boleto_payable_and_the_invoice_open(world, clock,
                                                                                                     monkeypatch):
    """The event goes before the bank: a refusal (here, past the cancellation deadline) changes
    nothing, and the operator reads the national system's codes."""
    org, operator, invoice = billed_in_november(world, clock)
    emitter = world.deps.nfse_emitter

    def refuse(access_key, signed_event):
        raise NfseCancellationRefused("rejected", (Rejection("E0850", "Prazo para cancelamento expirado"),))

    monkeypatch.setattr(emitter, "cancel", refuse)
    world.deps.bank.calls.clear()

    response = world.call("POST", f"/backoffice/invoices/{invoice.id}/cancel", operator, {"reason": REASON})

    assert (response.status_code, response.json_body["error"]["code"]) == (409, "nfse_cancellation_refused")
    assert "E0850: Prazo para cancelamento expirado" in response.json_body["error"]["message"]
    assert world.deps.bank.calls_of("cancel") == []
    assert world.deps.bank.is_registered(invoice.active_boleto.nosso_numero)
    after = world.deps.invoices.get(invoice.id)
    assert after.status == invoice.status and after.cancellation is None and after.active_boleto == invoice.active_boleto


def test_a_billing_run_declares_its_dps_in_the_series_the_settings_give(world, clock):
    """NFSE_DPS_SERIES: a reseller whose old system used series 1 for the CNPJ starts another."""
    world.deps.settings = replace(world.deps.settings, nfse_dps_series="900")
    _, _, invoice = billed_in_november(world, clock)

    root = etree.fromstring(world.deps.documents.get(invoice.nfse.xml_key))
    info = root.find("n:infNFSe/n:DPS/n:infDPS", NS)
    assert info.findtext("n:serie", namespaces=NS) == "900"
    assert info.get("Id")[25:30] == "00900" and info.get("Id").endswith(f"{invoice.number:015d}")
