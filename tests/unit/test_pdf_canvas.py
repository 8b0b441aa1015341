"""The documents' Canvas (rendering.pdf.canvas_class) writes the very operators reportlab's Canvas
writes for every string and font change: the faster path changes no byte of a page."""
import io

import pytest
from reportlab.pdfgen import canvas

from chalicelib.rendering import pdf

TEXTS = ["Fatura nº 123 — CANCELADA", "R$ 1.234,56", "(=) Valor do documento", "São Paulo \\ (SP)", "“copia e cola”…",
         "Cliente <b>Ácme</b> & Filhos", "", "  espaços  ", "€ 10", "Ω ≠ ✓ 漢字", "tab\there", "a" * 300]


def _pair():
    return canvas.Canvas(io.BytesIO()), pdf.canvas_class()(io.BytesIO())


@pytest.mark.parametrize("font, size, leading", [("Helvetica", 9, None), ("Helvetica-Bold", 7.5, None),
                                                 ("Courier", 7, 8.4), ("Times-Roman", 10.25, 12)])
def test_strings_and_fonts_are_written_as_reportlab_writes_them(font, size, leading):
    theirs, ours = _pair()
    for target in (theirs, ours):
        target.setFont(font, size, leading)
        for n, text in enumerate(TEXTS):
            target.drawString(10 + n * 0.3333, 800 - n * 9.7, text)
            target.drawRightString(580.5, 700 - n * 3.1, text)
            target.drawCentredString(297.6378, 600 + n, text)
        target.drawString(10, 10, "mode", mode=1)  # unusual options go to reportlab's own code
        target.drawRightString(10, 10, "spaced", charSpace=1.5)
    assert ours._code == theirs._code
    assert ours.stringWidth("Fatura nº 1", font, size) == theirs.stringWidth("Fatura nº 1", font, size)


def test_a_top_down_canvas_is_left_to_reportlab():
    theirs = canvas.Canvas(io.BytesIO(), bottomup=0)
    ours = pdf.canvas_class()(io.BytesIO(), bottomup=0)
    for target in (theirs, ours):
        target.setFont("Helvetica", 9)
        target.drawString(10, 20, "de cima para baixo")
    assert ours._code == theirs._code


def test_the_barcode_is_reportlabs_i2of5_operator_for_operator():
    from reportlab.graphics.barcode.common import I2of5

    digits = "00191000000000000000000000000000000000000000"[:44]
    theirs, ours = _pair()
    I2of5(digits, checksum=0, bearers=0, barWidth=0.33 * pdf.MM, ratio=3, barHeight=13 * pdf.MM,
          quiet=0).drawOn(theirs, 28.35, 100.5)
    pdf._draw_interleaved_2_of_5(ours, digits, 28.35, 100.5, narrow=0.33 * pdf.MM, ratio=3, height=13 * pdf.MM)
    rectangles = [op for chunk in ours._code for op in chunk.split("\n")]
    assert rectangles == [op for op in theirs._code]
