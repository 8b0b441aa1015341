"""PDF documents: the boleto (with its Interleaved 2 of 5 barcode and the Pix QR code), the invoice
and the NFS-e. reportlab is imported inside the builders: cold starts that render nothing skip it."""
from __future__ import annotations

import io
import re
from functools import lru_cache
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..domain.boleto import bank_code_with_digit, format_digitable_line
from ..domain.money import format_brl
from .environment import format_date_br

MM = 72 / 25.4  # points per millimetre
DARK_RUN = re.compile(rb"\x01+")


def _configure() -> None:
    """Page streams compressed only, not also ASCII85-encoded (reportlab's default adds it, for
    7-bit channels): a PDF is binary and the email's base64 already carries it; A85 cost ~2 ms a
    page in pure Python and made each stream a quarter larger. reportlab reads this setting when a
    document is written, so it is set for the process: these are the process's only PDFs."""
    from reportlab import rl_config

    rl_config.useA85 = 0


# Each byte of a string in a PDF literal, as reportlab's escapePDF writes it.
PDF_ESCAPES = {code: "\\%03o" % code if code < 32 or code >= 127 else "\\" + chr(code) if chr(code) in "\\()"
               else chr(code) for code in range(256)}


@lru_cache(maxsize=None)
def _encoding(font_name: str) -> Optional[str]:
    """The encoding of one of the 14 standard fonts (None for any other font)."""
    from reportlab.pdfbase.pdfmetrics import getFont

    font = getFont(font_name)
    return None if font._dynamicFont else font.encName


@lru_cache(maxsize=16384)
def _pdf_string(text: str, font_name: str) -> Optional[str]:
    """`text` as a PDF literal's contents in the font's encoding; None when the font lacks one of
    its characters (reportlab then borrows a substitution font)."""
    encoding = _encoding(font_name)
    if encoding is None:
        return None
    try:
        return text.encode(encoding).decode("latin-1").translate(PDF_ESCAPES)
    except UnicodeEncodeError:
        return None


@lru_cache(maxsize=16384)
def _width(text: str, font_name: str, size: float) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth(text, font_name, size)


@lru_cache(maxsize=16384)
def _point(x: float, y: float) -> str:
    from reportlab.lib.rl_accel import fp_str

    return fp_str(x, y)


@lru_cache(maxsize=1024)
def _font_size(size: float, leading: float) -> str:
    from reportlab.lib.rl_accel import fp_str

    return f"{fp_str(size)} Tf {fp_str(leading)} TL"


@lru_cache(maxsize=None)
def canvas_class():
    """reportlab's Canvas, with drawString, drawRightString and drawCentredString writing the very
    operators reportlab writes ("BT 1 0 0 1 x y Tm (text) Tj T* ET") without building a text
    object per string, and with widths, encoded texts and coordinates computed once per process
    (labels and their places repeat from page to page). Anything unusual (a text render mode,
    spacing, a direction, a character the font lacks, a top-down canvas) goes to reportlab's own.
    setFont likewise writes reportlab's "BT /Fn size Tf leading TL ET" with the numbers formatted once."""
    from reportlab.pdfgen import canvas

    class Canvas(canvas.Canvas):
        def _fast(self, x, y, text, shift, options) -> bool:
            if any(options) or not self.bottomup:
                return False
            escaped = _pdf_string(text, self._fontname)
            if escaped is None:
                return False
            if shift:
                x -= shift * _width(text, self._fontname, self._fontsize)
            shown = f"({escaped}) Tj" if text else ""  # reportlab shows nothing for an empty text
            self._code.append(f"BT 1 0 0 1 {_point(x, y)} Tm {shown} T* ET")
            return True

        def drawString(self, x, y, text, mode=None, charSpace=0, direction=None, wordSpace=None, shaping=False):
            if not self._fast(x, y, text, 0, (mode is not None, charSpace, direction, wordSpace, shaping)):
                super().drawString(x, y, text, mode, charSpace, direction, wordSpace, shaping)

        def drawRightString(self, x, y, text, mode=None, charSpace=0, direction=None, wordSpace=None, shaping=False):
            if not self._fast(x, y, text, 1, (mode is not None, charSpace, direction, wordSpace, shaping)):
                super().drawRightString(x, y, text, mode, charSpace, direction, wordSpace, shaping)

        def drawCentredString(self, x, y, text, mode=None, charSpace=0, direction=None, wordSpace=None,
                              shaping=False):
            if not self._fast(x, y, text, 0.5, (mode is not None, charSpace, direction, wordSpace, shaping)):
                super().drawCentredString(x, y, text, mode, charSpace, direction, wordSpace, shaping)

        def setFont(self, psfontname, size, leading=None):
            if _encoding(psfontname) is None:
                return super().setFont(psfontname, size, leading)
            leading = size * 1.2 if leading is None else leading
            self._fontname, self._fontsize, self._leading = psfontname, size, leading
            self._code.append(f"BT {self._doc.getInternalFontName(psfontname)} {_font_size(size, leading)} ET")

        def stringWidth(self, text, fontName=None, fontSize=None):
            return _width(text, fontName or self._fontname, self._fontsize if fontSize is None else fontSize)

    return Canvas


def _canvas():
    from reportlab.lib.pagesizes import A4

    _configure()
    buffer = io.BytesIO()
    pdf = canvas_class()(buffer, pagesize=A4)
    return buffer, pdf, A4


def _box(pdf, x, y, width, height, label: str, value, size: float = 8, bold: bool = False,
         right: bool = False, reserve: float = 0) -> None:
    """A ruled box with its small label at the top and its value below it: a line (`right` aligns it
    to the right edge, as banks print amounts), or a list of lines from the top down, each wrapped to
    the box and cut with "…" where the box ends (a customer's 255-character street stays inside), above
    `reserve` points kept free at the bottom."""
    pdf.rect(x, y, width, height, stroke=1, fill=0)
    pdf.setFont("Helvetica", 6)
    pdf.drawString(x + 1.2 * MM, y + height - 2.3 * MM, label)
    pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
    if isinstance(value, str):
        if right:
            pdf.drawRightString(x + width - 1.5 * MM, y + 1.5 * MM, value)
        else:
            pdf.drawString(x + 1.2 * MM, y + 1.5 * MM, value)
        return
    font = "Helvetica-Bold" if bold else "Helvetica"
    lines = _wrapped(value, font, size, width - 2.4 * MM)
    fits = max(1, int((height - 3 * MM - reserve) // (size + 1.2)))
    if len(lines) > fits:
        lines = lines[:fits]
        while lines[-1] and pdf.stringWidth(lines[-1] + "…", font, size) > width - 2.4 * MM:
            lines[-1] = lines[-1][:-1]
        lines[-1] += "…"
    for index, text in enumerate(lines):
        pdf.drawString(x + 1.2 * MM, y + height - 2.5 * MM - (index + 1) * (size + 1.2), text)


def _row(pdf, x, y, height, cells: Sequence[Tuple[float, str, Any]], **style) -> None:
    """Boxes side by side: (width, label, value) each."""
    for width, label, value in cells:
        _box(pdf, x, y, width, height, label, value, **style)
        x += width


def _draw_qr(pdf, payload: str, x: float, y: float, size: float, quiet_modules: int = 4) -> None:
    """A QR code (error correction M) drawn straight on the canvas, one filled rectangle per run of
    dark modules in a row. reportlab's QrCodeWidget builds a validated shape per run and took ~70% of
    a boleto's rendering time; its encoder's choice of mask most of the rest (`rendering.qr` makes
    the same symbol faster). The rectangles are written in module units under one scaling, as
    whole numbers: the same squares as in points, without formatting ~1 500 decimals per code."""
    from .qr import qr_modules

    modules = qr_modules(payload)
    count = len(modules)
    module = size / (count + 2 * quiet_modules)
    runs = []
    for row_index, row in enumerate(modules):
        bottom = count - 1 - row_index + quiet_modules  # in modules, from the bottom of the quiet zone
        for run in DARK_RUN.finditer(bytes(row)):  # True is byte 1
            runs.append(f"{run.start() + quiet_modules} {bottom} {run.end() - run.start()} 1 re")
    pdf.saveState()
    pdf.setFillColorRGB(0, 0, 0)
    pdf.transform(module, 0, 0, module, x, y)
    pdf.addLiteral("\n".join(runs) + "\nf")
    pdf.restoreState()


def _draw_interleaved_2_of_5(pdf, digits: str, x: float, y: float, narrow: float, ratio: int, height: float) -> None:
    """The bars reportlab's I2of5 widget draws (no check digit, bearers or quiet zone): the same
    operators, from its pattern of narrow and wide bars and spaces, positions added up as it adds
    them, without the flowable around it and with each number formatted once per process."""
    from reportlab.graphics.barcode.common import I2of5

    bars = I2of5(digits, checksum=0, bearers=0, barWidth=narrow, ratio=ratio, barHeight=height, quiet=0)
    bars.width  # noqa: B018 - computes the pattern (`decomposed`): b/B bars, s/S spaces
    wide = narrow * ratio
    left, rectangles = 0, []
    for element in bars.decomposed:
        width = wide if element in "SB" else narrow
        if element in "bB":
            rectangles.append(_bar(left, width, height))
        left = left + width
    pdf.saveState()
    pdf.translate(x, y)
    pdf.addLiteral("\n".join(rectangles))
    pdf.restoreState()


@lru_cache(maxsize=4096)
def _bar(left: float, width: float, height: float) -> str:
    """canvas.rect(left, 0, width, height, stroke=0, fill=1)'s operators."""
    from reportlab.lib.rl_accel import fp_str

    return f"n {fp_str(left, 0, width, height)} re f*"


AMOUNT_LABELS = (("document", "(=) Valor do documento"), ("discount", "(-) Desconto / Abatimento"),
                 ("deductions", "(-) Outras deduções"), ("late_charges", "(+) Mora / Multa"),
                 ("additions", "(+) Outros acréscimos"), ("charged", "(=) Valor cobrado"))


def _amount(cents) -> str:
    """An amounts box: blank when the bank's caixa fills it."""
    return "" if cents is None else format_brl(cents)


def _wrapped(texts: Sequence[str], font: str, size: float, width: float) -> List[str]:
    """Each text cut into lines at most `width` wide as reportlab's simpleSplit cuts them (its
    lines, then words added while they fit, a word alone on a line even if wider), with the
    words' widths computed once per process."""
    lines: List[str] = []
    space = _width(" ", font, size)
    for text in texts:
        for paragraph in text.split("\n"):
            words, used = [], -space
            for word in paragraph.split():
                word_width = _width(word, font, size)
                if used + space + word_width <= width or not words:
                    words.append(word)
                    used += space + word_width
                else:
                    lines.append(" ".join(words))
                    words, used = [word], word_width
            if words:
                lines.append(" ".join(words))
    return lines


def _chunks(text: str, length: int) -> List[str]:
    """A code cut into lines of `length` characters, never next to a space: a PDF reader copies the
    lines without the blanks at their ends, and a "copia e cola" missing a space does not pay."""
    lines, start = [], 0
    while start < len(text):
        end = min(start + length, len(text))
        while start + 1 < end < len(text) and " " in (text[end - 1], text[end]):
            end -= 1
        lines.append(text[start:end])
        start = end
    return lines


def _bank_header(pdf, left, top, width, data, right_text: str, right_size: float) -> None:
    pdf.setFont("Helvetica-Bold", 12)
    pdf.drawString(left, top, f"{data['bank_name']}  |  {bank_code_with_digit(data['bank_code'])}")
    pdf.setFont("Helvetica-Bold", right_size)
    pdf.drawRightString(left + width, top, right_text)
    pdf.setLineWidth(1.2)
    pdf.line(left, top - 1.8 * MM, left + width, top - 1.8 * MM)
    pdf.setLineWidth(0.5)


def boleto_pdf(data: Dict[str, Any]) -> bytes:
    """A boleto in FEBRABAN's layout, on one A4 page: the payer's receipt with the boleto's Pix, and
    the "ficha de compensação" with its barcode. Every text comes from `services.boleto_print`.

    `data`: bank_code, bank_name, digitable_line, barcode, due_date, nosso_numero, payment_place,
    beneficiary {name, document, address, agency_code}, payer {name, document, address_lines},
    guarantor, document_date, document_number, document_kind, acceptance, processed_on, wallet,
    currency, quantity, unit_value, bank_use, amounts {document, discount, deductions, late_charges,
    additions, charged} (centavos or None), instructions [str], pix_payload, pix_expires_on.
    """
    buffer, pdf, (page_width, page_height) = _canvas()
    pdf.setLineWidth(0.5)
    left, width = 10 * MM, page_width - 20 * MM
    line = format_digitable_line(data["digitable_line"])
    due = format_date_br(data["due_date"])
    amounts = data["amounts"]
    beneficiary, payer = data["beneficiary"], data["payer"]
    beneficiary_name = f"{beneficiary['name']} — CNPJ {beneficiary['document']}"
    payer_name = f"{payer['name']} — {payer['document']}"
    pdf.setTitle(f"Boleto {data['document_number']}")

    # Recibo do pagador
    top = page_height - 14 * MM
    _bank_header(pdf, left, top, width, data, "Recibo do Pagador", 9)
    row = top - 2 * MM - 11 * MM
    _row(pdf, left, row, 11 * MM, [(width * 0.55, "Beneficiário", [beneficiary_name, beneficiary["address"]]),
                                   (width * 0.22, "Agência / Código do beneficiário", [beneficiary["agency_code"]]),
                                   (width * 0.23, "Vencimento", [due])])
    row -= 8 * MM
    _row(pdf, left, row, 8 * MM, [(width * 0.55, "Pagador", [payer_name]),
                                  (width * 0.22, "Nosso número", data["nosso_numero"]),
                                  (width * 0.23, "Nº do documento", data["document_number"])])
    row -= 8 * MM
    _row(pdf, left, row, 8 * MM, [(width / 6, label, _amount(amounts[key])) for key, label in AMOUNT_LABELS],
         right=True)
    if data.get("pix_payload"):
        # Boleto híbrido: the same charge as the bank's Pix, its QR code and its "copia e cola".
        height = 36 * MM
        row -= height + 2 * MM
        pdf.rect(left, row, width, height)
        size = height - 2 * MM
        _draw_qr(pdf, data["pix_payload"], left + 1 * MM, row + 1 * MM, size)
        text_left = left + size + 3 * MM
        text_width = left + width - text_left - 2 * MM
        pdf.setFont("Helvetica-Bold", 9)
        pdf.drawString(text_left, row + height - 5 * MM, "Pix deste boleto")
        pdf.setFont("Helvetica", 7)
        notes = _wrapped([
            f"Pague este boleto com Pix: leia o QR Code ou use o código \u201ccopia e cola\u201d abaixo. É o Pix que o "
            f"banco gerou para este boleto: vale até {format_date_br(data['pix_expires_on'])}, no valor do boleto "
            f"(após o vencimento, com a multa e os juros que o banco calcula)."], "Helvetica", 7, text_width)
        y = row + height - 9 * MM
        for text in notes:
            pdf.drawString(text_left, y, text)
            y -= 3 * MM
        y -= 1.5 * MM
        pdf.setFont("Helvetica", 6)
        pdf.drawString(text_left, y, "Pix copia e cola")
        pdf.setFont("Courier", 7)
        per_line = int(text_width // pdf.stringWidth("0", "Courier", 7))
        for text in _chunks(data["pix_payload"], per_line):
            y -= 3 * MM
            pdf.drawString(text_left, y, text)
    pdf.setFont("Helvetica", 6)
    pdf.drawRightString(left + width, row - 3 * MM, "Autenticação mecânica")
    pdf.setDash(3, 3)
    pdf.line(left, row - 7 * MM, left + width, row - 7 * MM)
    pdf.setDash()

    # Ficha de compensação
    top = row - 15 * MM
    _bank_header(pdf, left, top, width, data, line, 11)
    main, side = width * 0.72, width * 0.28
    row = top - 2 * MM - 10 * MM
    _box(pdf, left, row, main, 10 * MM, "Local de pagamento",
         _wrapped([data["payment_place"]], "Helvetica", 7, main - 3 * MM), size=7)
    _box(pdf, left + main, row, side, 10 * MM, "Vencimento", due, size=9, bold=True, right=True)
    row -= 11 * MM
    _box(pdf, left, row, main, 11 * MM, "Beneficiário", [beneficiary_name, beneficiary["address"]])
    _box(pdf, left + main, row, side, 11 * MM, "Agência / Código do beneficiário", beneficiary["agency_code"],
         right=True)
    row -= 8 * MM
    _row(pdf, left, row, 8 * MM, [
        (main * 0.18, "Data do documento", format_date_br(data["document_date"])),
        (main * 0.22, "Nº do documento", data["document_number"]),
        (main * 0.14, "Espécie doc.", data["document_kind"]), (main * 0.1, "Aceite", data["acceptance"]),
        (main * 0.36, "Data do processamento", format_date_br(data["processed_on"]))])
    _box(pdf, left + main, row, side, 8 * MM, "Nosso número", data["nosso_numero"], right=True)
    row -= 8 * MM
    _row(pdf, left, row, 8 * MM, [
        (main * 0.18, "Uso do banco", data["bank_use"]), (main * 0.22, "Carteira", data["wallet"]),
        (main * 0.14, "Espécie", data["currency"]), (main * 0.2, "Quantidade", data["quantity"]),
        (main * 0.26, "(x) Valor", data["unit_value"])])
    _box(pdf, left + main, row, side, 8 * MM, AMOUNT_LABELS[0][1], _amount(amounts["document"]), bold=True,
         right=True)
    # Instructions beside the other amounts, one box each, from (-) desconto to (=) valor cobrado.
    box = 8 * MM
    height = box * (len(AMOUNT_LABELS) - 1)
    pdf.rect(left, row - height, main, height)
    pdf.setFont("Helvetica", 6)
    pdf.drawString(left + 1.2 * MM, row - 2.3 * MM, "Instruções (texto de responsabilidade do beneficiário)")
    pdf.setFont("Helvetica", 7)
    y = row - 5.5 * MM
    for text in _wrapped(data["instructions"], "Helvetica", 7, main - 3 * MM)[:12]:
        pdf.drawString(left + 1.2 * MM, y, text)
        y -= 3 * MM
    for key, label in AMOUNT_LABELS[1:]:
        row -= box
        _box(pdf, left + main, row, side, box, label, _amount(amounts[key]), bold=key == "charged", right=True)
    row -= 17 * MM
    _box(pdf, left, row, width, 17 * MM, "Pagador", [payer_name, *payer["address_lines"]],
         reserve=4 * MM)  # the sacador / avalista's line
    pdf.setFont("Helvetica", 6)
    pdf.drawString(left + 1.2 * MM, row + 1.2 * MM, f"Sacador / Avalista: {data['guarantor']}".rstrip())
    pdf.drawRightString(left + width - 1.5 * MM, row + 1.2 * MM, "Código de baixa")
    # The barcode: Interleaved 2 of 5, narrow bar 0.33 mm, wide 3× narrow, 13 mm high (FEBRABAN).
    _draw_interleaved_2_of_5(pdf, data["barcode"], left, row - 16 * MM, narrow=0.33 * MM, ratio=3,
                             height=13 * MM)
    pdf.setFont("Helvetica", 7)
    pdf.drawRightString(left + width, row - 3 * MM, "Autenticação mecânica — Ficha de Compensação")
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


def contract_pdf(data: Dict[str, Any]) -> bytes:
    """The contract to read (`services/contract_document`): title and version, the clauses wrapped to
    the page, and the contracted items with their monthly prices and the monthly total."""
    buffer, pdf, (page_width, page_height) = _canvas()
    left, width = 20 * MM, page_width - 40 * MM
    pdf.setTitle(f"{data['title']} — versão {data['version']}")
    y = page_height - 20 * MM

    def room(needed: float) -> None:
        nonlocal y
        if y - needed < 20 * MM:
            pdf.showPage()
            y = page_height - 20 * MM

    def lines(texts: Sequence[str], font: str, size: float, gap: float = 1.5) -> None:
        nonlocal y
        for line in _wrapped(texts, font, size, width):
            room(size + gap)
            pdf.setFont(font, size)
            pdf.drawString(left, y, line)
            y -= size + gap

    lines([data["title"]], "Helvetica-Bold", 13)
    lines([f"Versão {data['version']} · {data['organization']}"], "Helvetica", 9)
    y -= 4 * MM
    for section in data["sections"]:
        room(20)
        lines([section["heading"]], "Helvetica-Bold", 10)
        y -= 1 * MM
        for paragraph in section["paragraphs"]:
            lines([paragraph], "Helvetica", 9)
            y -= 1.5 * MM
        y -= 2 * MM
    room(30)
    lines(["Itens contratados"], "Helvetica-Bold", 10)
    quantity_x, price_x, monthly_x = left + width * 0.62, left + width * 0.82, left + width  # right edges
    pdf.setFont("Helvetica-Bold", 8)
    pdf.drawString(left, y, "Item")
    for x, label in ((quantity_x, "Qtd."), (price_x, "Preço unitário"), (monthly_x, "Mensal")):
        pdf.drawRightString(x, y, label)
    y -= 4 * MM
    if not data["items"]:
        lines(["Nenhum item contratado."], "Helvetica", 9)
    for item in data["items"]:
        room(12)
        pdf.setFont("Helvetica", 9)
        pdf.drawString(left, y, item["name"][:60])
        pdf.drawRightString(quantity_x, y, str(item["quantity"]))
        pdf.drawRightString(price_x, y, _amount(item["unit_price_cents"]) or "—")
        pdf.drawRightString(monthly_x, y, _amount(item["monthly_cents"]) or "—")
        y -= 5 * MM
    pdf.line(left, y + 3 * MM, left + width, y + 3 * MM)
    pdf.setFont("Helvetica-Bold", 10)
    pdf.drawString(left, y - 2 * MM, "Total mensal")
    pdf.drawRightString(left + width, y - 2 * MM, format_brl(data["total_monthly_cents"]))
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
