"""An invoice's boletos and NFS-e as values: which boleto is payable, the second copy's transition,
and the stored shape they keep (no AWS: the conversions are plain functions)."""
import json
from datetime import date

from chalicelib.domain import billing
from chalicelib.domain.billing import Invoice
from chalicelib.domain.boleto import BancoDoBrasilConvenio7, make_boleto
from chalicelib.domain.documents import (PAYER_ADDRESS_MISSING, Boleto, BoletoKind, BoletoStatus, Nfse,
                                         boleto_rejected, current_boleto, issued_boleto, payer_problems, supersede,
                                         with_second_copy)
from chalicelib.storage.billing import (boleto_attribute, boleto_failure_attribute, boleto_failure_from_attribute,
                                        boleto_from_attribute, nfse_attribute, nfse_from_attribute)

LAYOUT = BancoDoBrasilConvenio7("1234567", "18")


def a_boleto(sequence=1, kind=BoletoKind.ORIGINAL, due=date(2026, 11, 23), amount=10000) -> Boleto:
    return issued_boleto(make_boleto(LAYOUT, sequence, due, amount), kind, pix_payload=None,
                         pdf_key=f"boleto-{sequence}.pdf", registration_id=f"reg-{sequence}",
                         issued_at="2026-11-11T12:00:00+00:00")


def an_invoice(boletos=(), total=10000) -> Invoice:
    return Invoice(id="i", organization_id="o", contract_id="c", number=1, period_start=date(2026, 10, 11),
                   period_end=date(2026, 11, 10), issued_at="", due_date=date(2026, 11, 23), lines=[],
                   total_cents=total, payment_method="boleto", boletos=tuple(boletos))


# What an invoice item held before boletos and NFS-e were typed values (read from a stored item).
STORED_BOLETO = {
    "kind": "original", "status": "superseded", "bank_code": "001", "nosso_numero": "12345670000000001",
    "barcode": "00195163900000100000000001234567000000000118",
    "digitable_line": "00190000090123456700400000001180516390000010000", "due_date": "2026-11-23",
    "amount_cents": 10000, "pix_payload": "00020126510014br.gov.bcb.pix0129financeiro@brasoftware.com.br52040000"
    "53039865406100.005802BR5911Brasoftware6009SAO PAULO62100506FAT1S1630405BE",
    "pdf_key": "organizations/o/invoices/00000001/boleto-12345670000000001.pdf",
    "registration_id": "3f0b6c2e-8a8f-4a1e-9d2b-5f1c7e4a9b10", "issued_at": "2026-11-11T12:00:00+00:00"}
STORED_NFSE = {"number": "1", "verification_code": "A1B2C3D4E", "issued_at": "2026-11-11T12:00:00+00:00",
               "xml_key": "organizations/o/invoices/00000001/nfse-1.xml",
               "pdf_key": "organizations/o/invoices/00000001/nfse-1.pdf"}


def test_a_newly_issued_boleto_is_active_and_carries_the_codes_it_was_made_from():
    boleto = a_boleto()
    assert boleto.status is BoletoStatus.ACTIVE and boleto.is_active
    assert (boleto.due_date, boleto.amount_cents, boleto.bank_code) == (date(2026, 11, 23), 10000, "001")


def test_the_payable_boleto_is_the_last_active_one():
    original, second = a_boleto(1), a_boleto(2, BoletoKind.SECOND_COPY)
    assert current_boleto([]) is None
    assert current_boleto([original]) is original
    assert current_boleto([supersede(original), second]) is second
    assert current_boleto([supersede(original)]) is None
    assert an_invoice([supersede(original), second]).active_boleto is second


def test_superseding_a_boleto_keeps_everything_but_its_status():
    original = a_boleto()
    superseded = supersede(original)
    assert superseded.status is BoletoStatus.SUPERSEDED and not superseded.is_active
    assert superseded == Boleto(**{**original.__dict__, "status": BoletoStatus.SUPERSEDED})
    assert original.is_active  # values: the original is untouched


def test_a_second_copy_supersedes_the_boleto_in_force_and_goes_last():
    original, second, third = a_boleto(1), a_boleto(2, BoletoKind.SECOND_COPY), a_boleto(3, BoletoKind.SECOND_COPY)
    after_second = with_second_copy((original,), second)
    assert [b.status for b in after_second] == [BoletoStatus.SUPERSEDED, BoletoStatus.ACTIVE]
    after_third = with_second_copy(after_second, third)
    assert [(b.nosso_numero, b.status) for b in after_third] == [
        (original.nosso_numero, BoletoStatus.SUPERSEDED), (second.nosso_numero, BoletoStatus.SUPERSEDED),
        (third.nosso_numero, BoletoStatus.ACTIVE)]
    assert current_boleto(after_third) is third


def test_a_second_copy_in_force_makes_its_fine_and_interest_payable():
    second = a_boleto(2, BoletoKind.SECOND_COPY, due=date(2026, 12, 4), amount=10240)
    assert billing.payable_cents(an_invoice([supersede(a_boleto(1)), second])) == 10240
    assert billing.payable_cents(an_invoice([a_boleto(1)])) == 10000


def test_statuses_and_kinds_are_the_strings_stored_and_shown():
    assert [s.value for s in BoletoStatus] == ["active", "superseded", "cancelled"]
    assert [k.value for k in BoletoKind] == ["original", "second_copy"]


def test_a_stored_boleto_reads_back_typed_and_writes_back_byte_for_byte():
    boleto = boleto_from_attribute(STORED_BOLETO)
    assert boleto.kind is BoletoKind.ORIGINAL and boleto.status is BoletoStatus.SUPERSEDED
    assert boleto.due_date == date(2026, 11, 23) and boleto.amount_cents == 10000
    assert json.dumps(boleto_attribute(boleto)) == json.dumps(STORED_BOLETO)


def test_a_stored_nfse_reads_back_typed_and_writes_back_byte_for_byte():
    nfse = nfse_from_attribute(STORED_NFSE)
    assert nfse == Nfse(number="1", verification_code="A1B2C3D4E", issued_at="2026-11-11T12:00:00+00:00",
                        xml_key="organizations/o/invoices/00000001/nfse-1.xml",
                        pdf_key="organizations/o/invoices/00000001/nfse-1.pdf")
    assert json.dumps(nfse_attribute(nfse)) == json.dumps(STORED_NFSE)
    assert nfse_from_attribute(None) is None and nfse_attribute(None) is None
    assert nfse.access_key is None  # an old note: no event can name it


def test_a_national_nfse_keeps_its_access_key_and_stores_no_verification_code():
    key = "3550308221122233300018100000000000012611792219589" + "8"
    national = Nfse(number="7", verification_code=None, issued_at="2026-11-30T09:00:00-03:00",
                    xml_key="organizations/o/invoices/00000007/nfse-7.xml",
                    pdf_key="organizations/o/invoices/00000007/nfse-7.pdf", access_key=key)
    stored = nfse_attribute(national)
    assert stored["access_key"] == key and "verification_code" not in stored
    assert nfse_from_attribute(json.loads(json.dumps(stored))) == national


def test_a_boleto_with_the_banks_pix_keeps_its_location_and_expiry_and_an_old_one_stores_none():
    boleto = issued_boleto(make_boleto(LAYOUT, 1, date(2026, 11, 23), 10000), BoletoKind.ORIGINAL,
                           pix_payload="000201...", pdf_key="b.pdf", registration_id="r",
                           issued_at="2026-11-11T12:00:00+00:00", pix_location="pix.banco.example/cobv/abc",
                           pix_expires_on=date(2026, 12, 23))
    stored = boleto_attribute(boleto)
    assert (stored["pix_location"], stored["pix_expires_on"]) == ("pix.banco.example/cobv/abc", "2026-12-23")
    assert boleto_from_attribute(json.loads(json.dumps(stored))) == boleto
    old = boleto_from_attribute(STORED_BOLETO)
    assert (old.pix_location, old.pix_expires_on) == (None, None)
    assert "pix_location" not in boleto_attribute(old) and "pix_expires_on" not in boleto_attribute(old)


def test_a_boleto_refusal_counts_its_attempts_and_keeps_the_last_reasons():
    first = boleto_rejected(None, [("4874915", "Município inválido")], "2026-11-11T12:00:00+00:00")
    second = boleto_rejected(first, (("PAGADOR", "CEP inválido"),), "2026-11-12T12:00:00+00:00")
    assert (first.attempts, second.attempts) == (1, 2)
    assert second.reasons == (("PAGADOR", "CEP inválido"),) and second.failed_at == "2026-11-12T12:00:00+00:00"
    assert boleto_failure_from_attribute(json.loads(json.dumps(boleto_failure_attribute(second)))) == second
    assert boleto_failure_attribute(None) is None and boleto_failure_from_attribute(None) is None


def test_only_a_payer_without_an_address_stops_a_boleto_before_the_bank():
    [(code, message)] = payer_problems("org-1", None)
    assert code == PAYER_ADDRESS_MISSING and "PUT /backoffice/organizations/org-1/address" in message
    assert payer_problems("org-1", object()) == ()


def _charge(emv, location="pix.banco.example/cobv/abc"):
    from chalicelib.adapters.bank import PixCharge, Registration

    return Registration("r", "1", "registered", pix=PixCharge(emv=emv, location_url=location, txid="abc",
                                                              expires_on=date(2026, 12, 23)))


def _refused_reason(registration, amount=10000):
    from chalicelib.domain.errors import DomainError
    from chalicelib.services.documents import _bank_pix

    try:
        _bank_pix(registration, amount)
    except DomainError as refused:
        assert refused.code == "bank_codes_mismatch"
        return refused.details["reason"]
    return None


def test_only_the_banks_dynamic_pix_for_the_boleto_reaches_it():
    from chalicelib.adapters.bank import Registration
    from chalicelib.domain import pix
    from chalicelib.services.documents import _bank_pix

    good = pix.dynamic_payload(location_url="pix.banco.example/cobv/abc", merchant_name="BANCO", merchant_city="SP",
                               amount_cents=10000)
    assert _bank_pix(_charge(good), 10000) == (good, "pix.banco.example/cobv/abc", date(2026, 12, 23))
    assert _bank_pix(_charge(good, "https://pix.banco.example/cobv/abc"), 10000)[0] == good  # scheme or not
    assert _bank_pix(Registration("r", "1", "registered"), 10000) == (None, None, None)  # no Pix: none
    static = pix.payload(key="financeiro@brasoftware.com.br", merchant_name="X", merchant_city="SP",
                         amount_cents=10000)
    assert _refused_reason(_charge(static)) == "not_dynamic"
    assert _refused_reason(_charge(good[:-4] + "0000")) == "not_dynamic"  # CRC broken
    assert _refused_reason(_charge(good, "pix.banco.example/cobv/other")) == "other_location"
    assert _refused_reason(_charge(good), amount=10001) == "other_amount"
