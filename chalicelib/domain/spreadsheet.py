"""The CSV files the portal hands out, written the way Excel in Brazil opens them.

One convention for every CSV (receivables, spend report, exports): UTF-8 with BOM (Excel then reads
the accents right), `;` between fields (the list separator of a pt-BR Windows), CRLF line ends, a
field quoted when it holds `;`, a quote or a line break; amounts as `1.234,56` (no currency sign to
trip the number), days as `dd/mm/aaaa`; typed text never starts a formula."""
from __future__ import annotations

import csv
import io
from datetime import date
from typing import Iterable, Sequence

from .money import format_brl

# What makes Excel or LibreOffice read a cell as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
CSV_MEDIA_TYPE = "text/csv"


def as_text(value: str) -> str:
    """Text someone typed (a company name, a ticket) must not run as a formula when the CSV is
    opened in a spreadsheet: a leading apostrophe keeps it text."""
    return "'" + value if value[:1] in FORMULA_STARTS else value


def br_decimal(amount_cents: int) -> str:
    """123456 → '1.234,56', -5000 → '-50,00': Excel set to pt-BR reads it as a number."""
    return format_brl(amount_cents).replace("R$ ", "")


def br_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def csv_document(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The whole file as text, BOM first (encode it as UTF-8). Cells are written as given: pass
    typed text through `as_text`, amounts through `br_decimal`, days through `br_date`."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(header)
    writer.writerows(rows)
    return BOM + out.getvalue()
