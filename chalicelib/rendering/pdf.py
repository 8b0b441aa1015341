"""PDF documents: the boleto (with its Interleaved 2 of 5 barcode and the Pix QR code), the invoice
and the NFS-e. reportlab is imported inside the builders: cold starts that render nothing skip it."""
from __future__ import annotations

import io
from typing import Any, Dict, List, Sequence, Tuple

from ..domain.boleto import bank_code_with_digit, format_digitable_line
from ..domain.money import format_brl
from .environment import format_date_br

MM = 72 / 25.4  # points per millimetre


def _canvas():
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    return buffer, pdf, A4


def _box(pdf, x, y, width, height, label: str, value: str, size: int = 9, bold: bool = False) -> None:
    pdf.rect(x, y, width, height, stroke=1, fill=0)
    pdf.setFont("Helvetica", 6)
    pdf.drawString(x + 1.5 * MM, y + height - 2.5 * MM, label)
    pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
    pdf.drawString(x + 1.5 * MM, y + 1.8 * MM, value)


def _draw_qr(pdf, payload: str, x: float, y: float, size: float, quiet_modules: int = 4) -> None:
    """A QR code (error correction M) drawn straight on the canvas, one filled rectangle per run of
    dark modules in a row. reportlab's QrCodeWidget builds a validated shape per run and took ~70% of
    a boleto's rendering time."""
    from itertools import groupby

    from reportlab.graphics.barcode import qrencoder

    code = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    code.addData(payload)
    code.make()
    count = code.getModuleCount()
    module = size / (count + 2 * quiet_modules)
    path = pdf.beginPath()
    for row_index, row in enumerate(code.modules):
        top = y + size - (row_index + quiet_modules + 1) * module
        column = 0
        for dark, run in groupby(bool(cell) for cell in row):
            length = sum(1 for _ in run)
            if dark:
                path.rect(x + (column + quiet_modules) * module, top, length * module, module)
            column += length
    pdf.saveState()
    pdf.setFillColorRGB(0, 0, 0)
    pdf.drawPath(path, stroke=0, fill=1)
    pdf.restoreState()


def boleto_pdf(data: Dict[str, Any]) -> bytes:
    """A boleto in the FEBRABAN layout: the payer's receipt and the "ficha de compensação".

    `data`: bank_code, bank_name, digitable_line, barcode, due_date, amount_cents, nosso_numero,
    beneficiary {name, document, agency_code}, payer {name, document}, document_number,
    issued_on, instructions [str], pix_payload (optional).
    """
    from reportlab.graphics.barcode.common import I2of5

    buffer, pdf, (page_width, page_height) = _canvas()
    left, width = 12 * MM, page_width - 24 * MM
    line = format_digitable_line(data["digitable_line"])
    amount = format_brl(data["amount_cents"])
    due = format_date_br(data["due_date"])
    pdf.setTitle(f"Boleto {data['document_number']}")

    # Recibo do pagador
    top = page_height - 20 * MM
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(left, top, f"{data['bank_name']}  |  {bank_code_with_digit(data['bank_code'])}")
    pdf.setFont("Helvetica", 8)
    pdf.drawRightString(left + width, top, "Recibo do Pagador")
    row = top - 12 * MM
    _box(pdf, left, row, width * 0.6, 9 * MM, "Beneficiário",
         f"{data['beneficiary']['name']} — CNPJ {data['beneficiary']['document']}")
    _box(pdf, left + width * 0.6, row, width * 0.4, 9 * MM, "Vencimento", due, bold=True)
    row -= 9 * MM
    _box(pdf, left, row, width * 0.6, 9 * MM, "Pagador", f"{data['payer']['name']} — CNPJ {data['payer']['document']}")
    _box(pdf, left + width * 0.6, row, width * 0.4, 9 * MM, "Valor do documento", amount, bold=True)
    row -= 9 * MM
    _box(pdf, left, row, width * 0.6, 9 * MM, "Nosso número", data["nosso_numero"])
    _box(pdf, left + width * 0.6, row, width * 0.4, 9 * MM, "Nº do documento", data["document_number"])
    pdf.setDash(3, 3)
    pdf.line(left, row - 6 * MM, left + width, row - 6 * MM)
    pdf.setDash()

    # Ficha de compensação
    top = row - 16 * MM
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(left, top, f"{data['bank_name']}  |  {bank_code_with_digit(data['bank_code'])}")
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawRightString(left + width, top, line)
    row = top - 12 * MM
    main, side = width * 0.72, width * 0.28
    boxes: List[Tuple[str, str, str, str]] = [
        ("Local de pagamento", "Pagável em qualquer banco até o vencimento", "Vencimento", due),
        ("Beneficiário", f"{data['beneficiary']['name']} — CNPJ {data['beneficiary']['document']}",
         "Agência / Código do beneficiário", data["beneficiary"]["agency_code"]),
        ("Data do documento", format_date_br(data["issued_on"]), "Nosso número", data["nosso_numero"]),
        ("Nº do documento / Espécie", f"{data['document_number']} / DM", "(=) Valor do documento", amount),
    ]
    for label, value, side_label, side_value in boxes:
        _box(pdf, left, row, main, 9 * MM, label, value)
        _box(pdf, left + main, row, side, 9 * MM, side_label, side_value, bold=side_label.startswith(("Venc", "(=)")))
        row -= 9 * MM
    instructions_height = 26 * MM
    row -= instructions_height - 9 * MM
    pdf.rect(left, row, main, instructions_height)
    pdf.setFont("Helvetica", 6)
    pdf.drawString(left + 1.5 * MM, row + instructions_height - 2.5 * MM, "Instruções (texto de responsabilidade do beneficiário)")
    pdf.setFont("Helvetica", 8)
    for index, text in enumerate(data.get("instructions", [])[:5]):
        pdf.drawString(left + 1.5 * MM, row + instructions_height - (7 + 4 * index) * MM, text)
    if data.get("pix_payload"):
        # Boleto híbrido: the same charge as a Pix QR code.
        size = instructions_height - 4 * MM
        _draw_qr(pdf, data["pix_payload"], left + main + (side - size) / 2, row + 2 * MM, size)
        pdf.setFont("Helvetica", 6)
        pdf.drawCentredString(left + main + side / 2, row + 0.8 * MM, "Pague com Pix")
    row -= 11 * MM
    _box(pdf, left, row, width, 11 * MM, "Pagador",
         f"{data['payer']['name']} — CNPJ {data['payer']['document']}")
    # The barcode: Interleaved 2 of 5, narrow bar 0.33 mm, wide 3× narrow, 13 mm high (FEBRABAN).
    bars = I2of5(data["barcode"], checksum=0, bearers=0, barWidth=0.33 * MM, ratio=3, barHeight=13 * MM,
                 quiet=0)
    bars.drawOn(pdf, left, row - 20 * MM)
    pdf.setFont("Helvetica", 7)
    pdf.drawRightString(left + width, row - 4 * MM, "Autenticação mecânica — Ficha de Compensação")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def _table_pdf(title: str, header: Sequence[str], meta: Sequence[Tuple[str, str]], rows: Sequence[Sequence[str]],
               total: str, footer: Sequence[str] = ()) -> bytes:
    buffer, pdf, (page_width, page_height) = _canvas()
    left, width = 15 * MM, page_width - 30 * MM
    pdf.setTitle(title)
    y = page_height - 20 * MM
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(left, y, title)
    y -= 6 * MM
    pdf.setFont("Helvetica", 9)
    for line in header:
        pdf.drawString(left, y, line)
        y -= 4.5 * MM
    y -= 2 * MM
    for label, value in meta:
        pdf.setFont("Helvetica-Bold", 9)
        pdf.drawString(left, y, f"{label}:")
        pdf.setFont("Helvetica", 9)
        pdf.drawString(left + 42 * MM, y, value)
        y -= 4.5 * MM
    y -= 4 * MM
    pdf.line(left, y + 2 * MM, left + width, y + 2 * MM)
    for description, amount in rows:
        if y < 30 * MM:
            pdf.showPage()
            y = page_height - 20 * MM
            pdf.setFont("Helvetica", 9)
        pdf.setFont("Helvetica", 9)
        pdf.drawString(left, y - 3 * MM, description[:95])
        pdf.drawRightString(left + width, y - 3 * MM, amount)
        y -= 5 * MM
    pdf.line(left, y - 1 * MM, left + width, y - 1 * MM)
    pdf.setFont("Helvetica-Bold", 10)
    pdf.drawString(left, y - 6 * MM, "Total")
    pdf.drawRightString(left + width, y - 6 * MM, total)
    pdf.setFont("Helvetica", 8)
    y -= 14 * MM
    for line in footer:
        pdf.drawString(left, y, line)
        y -= 4 * MM
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def invoice_pdf(data: Dict[str, Any]) -> bytes:
    """The invoice ("fatura"): its number, period, due date and one row per line; for a deposit,
    the account to pay into (`deposit`: bank, agency, account, beneficiary, cnpj, pix_key); once
    cancelled (`cancellation`: cancelled_at, reason), marked "CANCELADA" with the day and reason."""
    deposit = data.get("deposit")
    payment = [("Forma de pagamento", "Boleto bancário" if data["payment_method"] == "boleto" else "Depósito bancário")]
    if deposit:
        payment += [("Banco", deposit["bank"]), ("Agência", deposit["agency"]), ("Conta", deposit["account"]),
                    ("Favorecido", deposit["beneficiary"]), ("CNPJ do favorecido", deposit["cnpj"])]
        if deposit.get("pix_key"):
            payment.append(("Chave Pix", deposit["pix_key"]))
    cancellation = data.get("cancellation")
    status = [("Situação", f"CANCELADA em {format_date_br(cancellation['cancelled_at'])} — {cancellation['reason']}")] \
        if cancellation else []
    return _table_pdf(
        f"Fatura nº {data['number']}" + (" — CANCELADA" if cancellation else ""),
        [data["issuer"]["name"], f"CNPJ {data['issuer']['document']}"],
        [("Cliente", data["customer"]["name"]), ("CNPJ", data["customer"]["document"]),
         ("Período", f"{format_date_br(data['period_start'])} a {format_date_br(data['period_end'])}"),
         ("Emissão", format_date_br(data["issued_on"])), ("Vencimento", format_date_br(data["due_date"])),
         *status, *payment],
        [(line["description"], format_brl(line["amount_cents"])) for line in data["lines"]],
        format_brl(data["total_cents"]))
