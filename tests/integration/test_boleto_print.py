"""The boleto a bank would print, read back from its PDF as a person reads it: every field of the
payer's receipt and of the ficha de compensação in its box (pdftotext's word boxes), the amounts
that add up, where and until when it is payable, the barcode and the Pix a phone scans."""
import html
import re
import shutil
import subprocess
from datetime import date, timedelta
from dataclasses import replace
from decimal import Decimal

from chalicelib.domain import boleto as boleto_rules

import pytest
import requests

from chalicelib.domain import boleto
from chalicelib.domain.addresses import normalize_address
from chalicelib.domain.clock import FixedClock
from chalicelib.domain.money import format_brl
from tests.support import ADDRESS, billed_in_november, sp

pytestmark = pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")

# Every label the boleto prints above a value (6 pt; the Pix's title and the ficha's footer larger):
# a box's value is what lies below its label, up to the next label to its right and the next below.
LABELS = {label: 7.5 for label in (
    "Beneficiário", "Agência / Código do beneficiário", "Vencimento", "Pagador", "Nosso número",
    "Nº do documento", "(=) Valor do documento", "(-) Desconto / Abatimento", "(-) Outras deduções",
    "(+) Mora / Multa", "(+) Outros acréscimos", "(=) Valor cobrado", "Pix copia e cola", "Autenticação mecânica",
    "Local de pagamento", "Data do documento", "Espécie doc.", "Aceite", "Data do processamento", "Uso do banco",
    "Carteira", "Espécie", "Quantidade", "(x) Valor", "Instruções (texto de responsabilidade do beneficiário)",
    "Sacador / Avalista:", "Código de baixa")}
LABELS.update({"Pix deste boleto": 11, "Autenticação mecânica — Ficha de Compensação": 9})
MM = 72 / 25.4


def _words(document: bytes):
    """(x0, y0, x1, y1, text) of each word, in drawing order; y grows down the page (points)."""
    out = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=document, capture_output=True, check=True).stdout
    found = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>',
                       out.decode())
    return [(float(a), float(b), float(c), float(d), html.unescape(text)) for a, b, c, d, text in found]


def _labels(words):
    """Where each label is drawn: [(label, x0, y0, y1, its words)]."""
    found = []
    for label, tallest in LABELS.items():
        parts = label.split()
        for i in range(len(words) - len(parts) + 1):
            run = words[i:i + len(parts)]
            if [w[4] for w in run] != parts or any(w[3] - w[1] > tallest for w in run):
                continue
            after = words[i + len(parts)] if i + len(parts) < len(words) else None
            if after and abs(after[1] - run[-1][1]) < 1 and after[0] - run[-1][2] < 3:
                continue  # part of a longer label ("Espécie doc." is not "Espécie")
            found.append((label, run[0][0], run[0][1], run[-1][3], run))
    return found


def fields(document: bytes):
    """{label: [the value of each box it heads, top of the page first]}."""
    words = _words(document)
    labels = _labels(words)
    label_words = {id(w) for *_, run in labels for w in run}

    def right_of(x0, y0):
        return min([other[1] for other in labels if abs(other[2] - y0) < 1 and other[1] > x0 + 1] + [10_000])

    boxes = [(label, x0, y0, y1, right_of(x0, y0)) for label, x0, y0, y1, _ in labels]
    result = {}
    for label, x0, y0, y1, right in sorted(boxes, key=lambda box: (box[2], box[1])):
        below = [other[2] for other in boxes if other[2] > y1 and other[1] < right - 1 and other[4] > x0 + 1]
        bottom = min(below + [y1 + 42 * MM])  # the instructions' box is the tallest
        inside = sorted((w for w in words if id(w) not in label_words and x0 - 2 <= w[0] < right - 0.5
                         and y1 - 1 <= w[1] and w[3] <= bottom + 1), key=lambda w: (round(w[1]), w[0]))
        result.setdefault(label, []).append(" ".join(w[4] for w in inside))
    return result


def copy_and_paste(document: bytes) -> str:
    """The Pix "copia e cola" as printed: its lines one after the other, spaces within a line kept."""
    words = _words(document)
    [(_, x0, _, y1, _)] = [found for found in _labels(words) if found[0] == "Pix copia e cola"]
    lines = {}
    for w in words:
        if w[0] >= x0 - 1 and y1 < w[1] < y1 + 15 * MM and w[4] != "Autenticação":
            lines.setdefault(round(w[1]), []).append(w[4])
    return "".join(" ".join(line) for _, line in sorted(lines.items()))


def text_of(document: bytes) -> str:
    return " ".join(subprocess.run(["pdftotext", "-layout", "-", "-"], input=document, capture_output=True,
                                   check=True).stdout.decode().split())


@pytest.fixture
def clock(world):
    world.deps.clock = FixedClock(sp(2026, 10, 1))
    return world.deps.clock


def _pdf(world, org, invoice_id):
    view = world.call("GET", f"/invoices/{invoice_id}/boleto", org.master).json_body
    return view, requests.get(view["pdf_url"], timeout=10).content


def _cents(printed: str) -> int:
    """'R$ 2.071,00' → 207100."""
    assert re.fullmatch(r"R\$ \d{1,3}(\.\d{3})*,\d{2}", printed), printed
    return int(printed[3:].replace(".", "").replace(",", ""))


def _day(value: date) -> str:
    return f"{value:%d/%m/%Y}"


def _one_a4_page_with_everything_on_it(document: bytes) -> None:
    info = subprocess.run(["pdfinfo", "-"], input=document, capture_output=True, check=True).stdout.decode()
    assert re.search(r"^Pages:\s+1$", info, re.M) and "(A4)" in info, info
    words = _words(document)
    assert words and all(0 <= x0 and x1 <= 595.3 and 0 <= y0 and y1 <= 841.9 for x0, y0, x1, y1, _ in words)


PAYER = ("Avenida Paulista, 1000, Conjunto 101 — Bela Vista CEP 01310-100 — São Paulo/SP")  # tests.support.ADDRESS


def test_an_original_boleto_prints_every_field_a_bank_prints_where_febraban_puts_it(world, clock):
    org, _, invoice = billed_in_november(world, clock)  # issued 11 Nov, due Mon 23 Nov (20 Nov is a holiday)
    view, document = _pdf(world, org, invoice.id)
    settings, total = world.deps.settings, invoice.total_cents
    registered = world.deps.bank.registered(view["nosso_numero"])
    limit = date(2026, 11, 23) + timedelta(days=registered.payable_days_after_due)
    assert registered.payable_days_after_due == settings.bank_api.payable_days_after_due == 30
    printed = fields(document)
    beneficiary = f"{settings.beneficiary_name} — CNPJ 45.997.418/0001-53 {settings.beneficiary_address}"
    # The payer's receipt, then the ficha de compensação: both carry these.
    assert printed["Beneficiário"] == [beneficiary, beneficiary]
    assert printed["Agência / Código do beneficiário"] == [f"Convênio {settings.boleto_bb_convenio}"] * 2
    assert printed["Vencimento"] == ["23/11/2026"] * 2
    assert printed["Nosso número"] == [view["nosso_numero"]] * 2
    assert printed["Nº do documento"] == [f"FAT-{invoice.number}"] * 2
    assert printed["(=) Valor do documento"] == [format_brl(total)] * 2
    # Blank on an original: the bank's caixa fills them when it is paid late.
    for label in ("(-) Desconto / Abatimento", "(-) Outras deduções", "(+) Mora / Multa", "(+) Outros acréscimos",
                  "(=) Valor cobrado"):
        assert printed[label] == ["", ""], label
    payer = f"{org.organization.name} — CNPJ {org.organization.cnpj[:2]}.{org.organization.cnpj[2:5]}." \
            f"{org.organization.cnpj[5:8]}/{org.organization.cnpj[8:12]}-{org.organization.cnpj[12:]}"
    assert printed["Pagador"] == [payer, f"{payer} {PAYER}"]
    # The ficha's own fields.
    assert printed["Local de pagamento"] == [
        f"Pagável em qualquer banco ou pelo Pix até o vencimento. Após o vencimento, em qualquer banco ou pelo Pix "
        f"até {_day(limit)}, com multa e juros calculados pelo banco."]
    assert printed["Data do documento"] == ["11/11/2026"]  # the invoice's issue day
    assert printed["Data do processamento"] == ["11/11/2026"]
    assert (printed["Espécie doc."], printed["Aceite"], printed["Espécie"]) == (["DS"], ["N"], ["R$"])
    assert registered.document_kind == "DS"  # what the bank registered
    assert printed["Carteira"] == [settings.boleto_bb_carteira] == ["18"]
    assert printed["Uso do banco"] == printed["Quantidade"] == printed["(x) Valor"] == [""]
    assert printed["Sacador / Avalista:"] == [""]
    fine = round(total * Decimal("0.02"))
    assert printed["Instruções (texto de responsabilidade do beneficiário)"] == [
        f"Referente à fatura nº {invoice.number} — período 11/10/2026 a 10/11/2026. Após o vencimento, o banco "
        f"cobra sobre {format_brl(total)}: multa de 2% ({format_brl(fine)}) a partir de 24/11/2026 e juros de mora "
        f"de 1% ao mês, por dia de atraso. Não receber após {_day(limit)}."]
    text = text_of(document)
    assert "Pagável em qualquer banco até o vencimento" not in text and "pro rata" not in text
    assert boleto.format_digitable_line(view["digitable_line"]) in text
    # The boleto's Pix: its copia e cola in full, valid as long as the boleto.
    assert copy_and_paste(document) == view["pix_payload"]
    assert f"É o Pix que o banco gerou para este boleto: vale até {_day(limit)}" in printed["Pix deste boleto"][0]
    _one_a4_page_with_everything_on_it(document)


def test_a_second_copy_prints_the_open_balance_its_fine_and_interest_and_the_boleto_it_replaces(world, clock):
    org, operator, invoice = billed_in_november(world, clock)
    old = world.call("GET", f"/invoices/{invoice.id}/boleto", org.master).json_body
    clock.now = sp(2026, 11, 20, 10)
    assert world.call("POST", f"/backoffice/invoices/{invoice.id}/payments", operator,
                      {"amount_cents": 50000, "paid_on": "2026-11-20", "method": "deposito"}).status_code == 201
    clock.now = sp(2026, 12, 1, 10)
    assert world.call("POST", f"/invoices/{invoice.id}/second-copy", org.master).status_code == 201
    view, document = _pdf(world, org, invoice.id)
    balance = invoice.total_cents - 50000
    assert view["amount_cents"] == boleto.late_amount(balance, 11)  # 23 Nov → Fri 4 Dec
    printed = fields(document)

    # The amounts add up to what the barcode charges: balance + fine and interest = valor cobrado.
    charged = boleto.parse(view["digitable_line"], reference=date(2026, 12, 4)).amount_cents
    for side in (0, 1):  # the receipt and the ficha
        document_cents, late, total = (_cents(printed[label][side]) for label in (
            "(=) Valor do documento", "(+) Mora / Multa", "(=) Valor cobrado"))
        assert (document_cents, document_cents + late, total) == (balance, charged, charged)
        assert printed["(-) Desconto / Abatimento"][side] == printed["(-) Outras deduções"][side] == ""
        assert printed["(+) Outros acréscimos"][side] == ""
    assert printed["Vencimento"] == ["04/12/2026"] * 2
    assert printed["Nosso número"] == [view["nosso_numero"]] * 2 and view["nosso_numero"] != old["nosso_numero"]
    assert printed["Data do documento"] == ["11/11/2026"] and printed["Data do processamento"] == ["01/12/2026"]
    limit = date(2026, 12, 4) + timedelta(days=30)
    assert printed["Local de pagamento"][0].endswith(
        f"Após o vencimento, em qualquer banco ou pelo Pix até {_day(limit)}, com multa e juros calculados pelo banco.")

    instructions = printed["Instruções (texto de responsabilidade do beneficiário)"][0]
    fine, interest = round(balance * Decimal("0.02")), round(balance * Decimal("0.01") * 11 / 30)
    assert (f"Valor cobrado: saldo em aberto de {format_brl(balance)} + multa de 2% ({format_brl(fine)}) + juros "
            f"de 1% ao mês por 11 dias, de 23/11/2026 a 04/12/2026 ({format_brl(interest)}).") in instructions
    assert balance + fine + interest == charged
    # The bank registered it without a new fine, its interest on the open balance (not on the fine).
    per_day = boleto_rules.late_amount(balance, 1, Decimal(0), Decimal("0.01")) - balance
    assert f"Após o vencimento: juros de {format_brl(per_day)} por dia; sem nova multa." in instructions
    assert "multa de 2% (" + format_brl(round(charged * Decimal('0.02'))) not in instructions
    assert (f"2ª via: substitui o boleto nosso número {old['nosso_numero']}, vencimento 23/11/2026, de "
            f"{format_brl(invoice.total_cents)}, baixado no banco: aquele boleto e o seu Pix não são mais "
            f"aceitos.") in instructions
    assert not world.deps.bank.is_registered(old["nosso_numero"])  # and so it is
    assert copy_and_paste(document) == view["pix_payload"] != old["pix_payload"]
    _one_a4_page_with_everything_on_it(document)


@pytest.mark.skipif(not (shutil.which("pdftoppm") and shutil.which("zbarimg")),
                    reason="needs pdftoppm (poppler-utils) and zbarimg (zbar-tools): .ci/run installs them")
def test_a_second_copys_barcode_and_pix_scan_back(world, clock, tmp_path):
    org, _, invoice = billed_in_november(world, clock)
    clock.now = sp(2026, 12, 1, 10)
    assert world.call("POST", f"/invoices/{invoice.id}/second-copy", org.master).status_code == 201
    view, document = _pdf(world, org, invoice.id)
    (tmp_path / "boleto.pdf").write_bytes(document)
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-singlefile", str(tmp_path / "boleto.pdf"),
                    str(tmp_path / "boleto")], check=True)
    scanned = subprocess.run(["zbarimg", "-q", "--raw", "-Sdisable", "-Si25.enable", "-Sqrcode.enable",
                              str(tmp_path / "boleto.png")], capture_output=True, text=True).stdout.splitlines()
    assert sorted(scanned) == sorted([view["barcode"], view["pix_payload"]])


def test_an_itau_boleto_prints_its_carteira_and_agency(world, clock):
    world.deps.settings = replace(world.deps.settings, boleto_bank="itau")
    org, _, invoice = billed_in_november(world, clock)
    view, document = _pdf(world, org, invoice.id)
    printed = fields(document)
    assert view["bank_code"] == "341" and printed["Carteira"] == ["109"]
    assert printed["Agência / Código do beneficiário"] == ["0293 / 01328"] * 2
    _one_a4_page_with_everything_on_it(document)


def test_a_boleto_the_bank_takes_only_until_its_due_date_says_so_and_promises_no_late_terms(world, clock):
    settings = world.deps.settings
    world.deps.settings = replace(settings, bank_api=replace(settings.bank_api, payable_days_after_due=0))
    org, _, invoice = billed_in_november(world, clock)
    _, document = _pdf(world, org, invoice.id)
    printed = fields(document)
    assert printed["Local de pagamento"] == [
        "Pagável em qualquer banco ou pelo Pix até o vencimento. Não receber após o vencimento."]
    instructions = printed["Instruções (texto de responsabilidade do beneficiário)"][0]
    assert instructions.endswith("Não receber após o vencimento.") and "multa" not in instructions
    assert "vale até 23/11/2026" in printed["Pix deste boleto"][0]


def test_a_payer_with_a_very_long_address_is_cut_inside_its_box_on_one_page(world, clock):
    street = "Rua " + "Muito Comprida " * 16 + "Fim"  # 247 characters: an address the NFS-e takes
    org = world.organization(closing_day=10, address=normalize_address({**ADDRESS, "street": street}))
    world.seed_catalog()
    world.accept_contract(org)
    world.subscription(org, "MS365-E3", 10)
    clock.now = sp(2026, 11, 11, 9)
    assert world.call("POST", "/backoffice/billing-runs", world.operator(), {"period": "2026-11"}).status_code == 202
    world.drain_queues()
    [invoice] = world.call("GET", "/invoices", org.master).json_body["items"]
    view, document = _pdf(world, org, invoice["id"])
    printed = fields(document)
    name, lines = printed["Pagador"][1].split(" Rua ", 1)
    assert lines.startswith("Muito Comprida") and lines.endswith("…")  # cut where the box ends
    assert printed["Sacador / Avalista:"] == [""]  # nothing ran into the line below
    _one_a4_page_with_everything_on_it(document)

