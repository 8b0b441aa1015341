"""Boleto digits against published vectors, their parsing, the fator reset, and the Pix BR Code.

The bank vectors are the worked examples of the pyboleto project's test suite (which follow the
banks' layout manuals); the fator dates are FEBRABAN's; the Pix payload is the Banco Central's
own example from the "Manual de Padrões para Iniciação do Pix"."""
import re
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, strategies as st

from chalicelib.domain import boleto, pix
from chalicelib.domain.boleto import BancoDoBrasilConvenio7, InvalidBoleto, ItauCarteira109
from chalicelib.domain.errors import InvalidInput

VECTORS = [
    # layout, sequence, due date, amount, barcode, linha digitável
    (BancoDoBrasilConvenio7("7777777", "18"), 87654, date(2011, 3, 8), 295295,
     "00196490000002952950000007777777000008765418", "00190.00009 07777.777009 00087.654182 6 49000000295295"),
    (ItauCarteira109("0293", "01328", "109"), 157, date(2009, 10, 19), 2980,
     "34199439500000029801090000015710293013280000", "34191.09008 00015.710296 30132.800001 9 43950000002980"),
    (ItauCarteira109("1565", "13877", "175"), 12345678, date(2011, 3, 9), 295295,
     None, "34191.75124 34567.861561 51387.710000 3 49010000295295"),
]


@pytest.mark.parametrize("layout, sequence, due, amount, code, line", VECTORS)
def test_published_boletos_are_reproduced_digit_for_digit(layout, sequence, due, amount, code, line):
    made = boleto.make_boleto(layout, sequence, due, amount)
    if code:
        assert made.barcode == code
    assert boleto.format_digitable_line(made.digitable_line) == line
    assert boleto.barcode_from_line(line) == made.barcode


def test_itau_nosso_numero_shows_its_dac():
    assert ItauCarteira109("0293", "01328").nosso_numero(157) == "109/00000157-1"
    assert BancoDoBrasilConvenio7("7777777").nosso_numero(87654) == "77777770000087654"


@pytest.mark.parametrize("due, factor", [
    (date(2000, 7, 3), "1000"), (date(2025, 2, 21), "9999"), (date(2025, 2, 22), "1000"),
    (date(2025, 2, 23), "1001"), (date(2026, 11, 30), "1646"),
])
def test_the_due_factor_restarts_at_1000_on_22_february_2025(due, factor):
    assert boleto.due_factor(due) == factor
    assert boleto.due_date_from_factor(factor, reference=due) == due


def test_parsing_reads_bank_due_date_and_amount_from_either_form():
    line = "00190.00009 07777.777009 00087.654182 6 49000000295295"
    parsed = boleto.parse(line, reference=date(2011, 3, 1))
    assert (parsed.bank_code, parsed.due_date, parsed.amount_cents) == ("001", date(2011, 3, 8), 295295)
    assert boleto.parse("00196490000002952950000007777777000008765418", date(2011, 3, 1)) == parsed


@pytest.mark.parametrize("line, reason", [
    ("00190.00008 07777.777009 00087.654182 6 49000000295295", "field_1_check_digit"),
    ("00190.00009 07777.777008 00087.654182 6 49000000295295", "field_2_check_digit"),
    ("00190.00009 07777.777009 00087.654183 6 49000000295295", "field_3_check_digit"),
    ("00190.00009 07777.777009 00087.654182 7 49000000295295", "general_check_digit"),
    ("00190.00009 07777.777009 00087.654182 6 49000000295296", "general_check_digit"),
    ("00190.00009 07777.777009 00087.654182 6 4900000029529", "length"),
    ("0019A.00009 07777.777009 00087.654182 6 49000000295295", "length"),
])
def test_malformed_lines_are_refused_with_the_reason(line, reason):
    with pytest.raises(InvalidBoleto) as error:
        boleto.parse(line, reference=date(2011, 3, 1))
    assert error.value.details["reason"] == reason


def test_a_barcode_in_another_currency_is_refused():
    with pytest.raises(InvalidBoleto) as error:
        boleto.validate_barcode("00106490000002952950000007777777000008765418")
    assert error.value.details["reason"] == "currency"


@given(st.integers(0, 10**8 - 1), st.dates(min_value=date(2000, 7, 3), max_value=date(2049, 12, 31)),
       st.integers(0, boleto.MAX_AMOUNT_CENTS))
def test_any_boleto_round_trips_through_its_linha_digitavel(sequence, due, amount):
    made = boleto.make_boleto(ItauCarteira109("0293", "01328"), sequence, due, amount)
    parsed = boleto.parse(made.digitable_line, reference=due)
    assert (parsed.due_date, parsed.amount_cents) == (due, amount)
    assert boleto.barcode_from_line(made.digitable_line) == made.barcode


def test_late_payment_adds_2_percent_fine_and_1_percent_a_month_pro_rata_die():
    # R$ 1.000,00, 15 days late: 1.000 + 20,00 + 1.000 × 1% / 30 × 15 = 5,00
    assert boleto.late_amount(100000, 15) == 100000 + 2000 + 500
    # R$ 333,33, 7 days: fine 6,6666 → 6,67; interest 0,7777 → 0,78
    assert boleto.late_amount(33333, 7) == 33333 + 667 + 78
    assert boleto.late_amount(33333, 0) == 33333
    assert boleto.late_amount(10000, 30, Decimal("0.10"), Decimal("0.03")) == 10000 + 1000 + 300
    # R$ 1.015,00 × 1% × 27 / 30 = 9,135 exactly: half to even → 9,14 (dividing first would drift).
    assert boleto.late_amount(101500, 27) == 101500 + 2030 + 914


def test_the_central_banks_example_br_code_is_reproduced():
    expected = ("00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-4266554400005204000053039865802BR"
                "5913Fulano de Tal6008BRASILIA62070503***63041D3D")
    assert pix.payload(key="123e4567-e12b-12d1-a456-426655440000", merchant_name="Fulano de Tal",
                       merchant_city="BRASILIA") == expected


def test_a_br_code_with_an_amount_and_txid_parses_back_and_its_crc_is_checked():
    code = pix.payload(key="financeiro@brasoftware.com.br", merchant_name="Brasoftware Informática Ltda",
                       merchant_city="São Paulo", amount_cents=123456, txid="FAT000123")
    fields = pix.parse(code)
    assert fields["54"] == "1234.56" and fields["59"] == "Brasoftware Informatica L" and fields["60"] == "Sao Paulo"
    assert fields["62"] == "0509FAT000123"
    with pytest.raises(InvalidInput):
        pix.parse(code[:-1] + ("0" if code[-1] != "0" else "1"))


@pytest.mark.parametrize("bank_code, printed", [
    ("341", "341-7"), ("001", "001-9"), ("237", "237-2"), ("104", "104-0"), ("033", "033-7"),
    ("756", "756-0"), ("041", "041-8"),
])
def test_the_bank_code_is_printed_with_its_module_11_digit_as_the_banks_publish_it(bank_code, printed):
    assert boleto.bank_code_with_digit(bank_code) == printed


@pytest.mark.parametrize("layout, printed", [(ItauCarteira109("0293", "01328", "109"), "341-7"),
                                             (BancoDoBrasilConvenio7("7777777", "18"), "001-9")])
def test_the_boleto_pdf_header_prints_the_banks_own_digit(layout, printed):
    import shutil
    import subprocess

    from chalicelib.rendering import pdf

    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (poppler-utils) is not installed")
    made = boleto.make_boleto(layout, 157, date(2026, 12, 10), 207100)
    document = pdf.boleto_pdf({
        "bank_code": made.bank_code, "bank_name": "Banco", "digitable_line": made.digitable_line,
        "barcode": made.barcode, "due_date": "2026-12-10", "nosso_numero": made.nosso_numero,
        "payment_place": "Pagável em qualquer banco até o vencimento. Não receber após o vencimento.",
        "beneficiary": {"name": "Brasoftware", "document": "00.000.000/0001-91", "agency_code": "0293 / 01328",
                        "address": "Av. Paulista, 1000, São Paulo - SP"},
        "payer": {"name": "Cliente", "document": "CNPJ 11.222.333/0001-81", "address_lines": []},
        "guarantor": "", "document_date": "2026-11-11", "document_number": "FAT-1", "document_kind": "DS",
        "acceptance": "N", "processed_on": "2026-11-11", "wallet": "18", "currency": "R$", "quantity": "",
        "unit_value": "", "bank_use": "",
        "amounts": {"document": 207100, "discount": None, "deductions": None, "late_charges": None,
                    "additions": None, "charged": None},
        "instructions": [], "pix_payload": None, "pix_expires_on": None})
    text = subprocess.run(["pdftotext", "-", "-"], input=document, capture_output=True, check=True).stdout.decode()
    # the payer's receipt and the ficha de compensação both print "<bank name> | <code>-<digit>"
    assert len(re.findall(rf"\|\s+{printed}\b", text)) == 2


def test_the_printed_copia_e_cola_never_breaks_a_line_beside_a_space():
    # A PDF reader copies each line without the blanks at its ends: a Pix code missing one is refused.
    from chalicelib.rendering.pdf import _chunks

    code = pix.dynamic_payload(location_url="pix.banco.invalid/cobv/" + "a" * 32, merchant_name="BANCO SIMULADO",
                               merchant_city="Sao Paulo", amount_cents=207100)
    for length in range(20, 120):
        lines = _chunks(code, length)
        assert "".join(lines) == code and all(len(line) <= length for line in lines)
        assert not any(line.startswith(" ") or line.endswith(" ") for line in lines), length
