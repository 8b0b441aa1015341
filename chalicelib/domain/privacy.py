"""LGPD: the organisation's data as an export file, and the rules of anonymisation.

Pure: the export is built in memory from plain rows (the storage reads them); anonymisation is a
map from each personal value to what replaces it, applied to any JSON-like value.
"""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Dict, Iterable, List, Mapping, Optional

from .spreadsheet import as_text

# The tables of an export, in the order the README documents them.
EXPORT_TABLES = ("organization", "contract", "users", "subscriptions", "subscription_changes", "invoices",
                 "payments", "credit_notes", "tickets", "ticket_messages", "ticket_attachments", "audit")

# The bucket's lifecycle rule (infra/resources.json, local/aws_resources.py) deletes what is under it
# after a day: an export's file outlives its link by hours, not years.
EXPORTS_PREFIX = "exports/"
EXPORTS_LIFETIME_DAYS = 1

ANONYMISED_NAME = "Titular anonimizado"
ANONYMISED_TEXT = "[dado pessoal removido]"
ANONYMISED_DOMAIN = "anonimizado.invalid"


@dataclass(frozen=True)
class DataExport:
    """One export of an organisation's data: its zip in S3 and until when its link may be handed out."""

    id: str
    organization_id: str
    key: str
    requested_by: str
    created_at: str
    expires_at: datetime
    size_bytes: int
    rows: int


def export_key(organization_id: str, export_id: str) -> str:
    # Under the organisation's own prefix, in a folder the bucket's lifecycle rule empties.
    return f"{EXPORTS_PREFIX}{organization_id}/{export_id}.zip"


def export_filename(organization_id: str, at: datetime) -> str:
    return f"dados-{organization_id}-{at:%Y%m%d-%H%M}.zip"


def link_seconds_left(export: DataExport, now: datetime) -> int:
    """Seconds the export's link may still live; 0 once the export has expired."""
    return max(0, int((export.expires_at - now).total_seconds()))


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return as_text(value)
    return str(value)


def _csv(rows: List[Dict[str, Any]]) -> str:
    columns: List[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


README_TEXT = """Exportação dos dados da organização (LGPD, art. 18, II e V)

Cada tabela vem em dois arquivos, com as mesmas linhas:
  <tabela>.json  uma lista de objetos (UTF-8);
  <tabela>.csv   uma linha de cabeçalho com os nomes dos campos, separador vírgula, UTF-8 com BOM;
                 campos compostos (listas, objetos) vêm como JSON dentro da célula.
Valores monetários estão em centavos (campos *_cents); instantes em ISO 8601 (UTC).

Tabelas: {tables}
manifest.json: quem exportou, quando, e quantas linhas tem cada tabela.
"""


def build_export_zip(tables: Mapping[str, List[Dict[str, Any]]], manifest: Dict[str, Any]) -> bytes:
    """The export: each table as JSON and CSV, a manifest and a README, zipped in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in EXPORT_TABLES:
            rows = list(tables.get(name, []))
            archive.writestr(f"{name}.json", json.dumps(rows, ensure_ascii=False, indent=2, sort_keys=True))
            # The BOM lets spreadsheet programs read the accents right.
            archive.writestr(f"{name}.csv", "\ufeff" + _csv(rows))
        counts = {name: len(tables.get(name, [])) for name in EXPORT_TABLES}
        archive.writestr("manifest.json", json.dumps({**manifest, "rows": counts}, ensure_ascii=False, indent=2))
        archive.writestr("LEIA-ME.txt", README_TEXT.format(tables=", ".join(EXPORT_TABLES)))
    return buffer.getvalue()


# --- anonymisation --------------------------------------------------------------------------------

def retention_ends(terminated_at: datetime, years: int) -> datetime:
    """The day personal data may go: `years` after the contract ended (29 Feb falls to 28 Feb)."""
    try:
        return terminated_at.replace(year=terminated_at.year + years)
    except ValueError:
        return terminated_at.replace(year=terminated_at.year + years, day=28)


def retention_cutoff(now: datetime, years: int) -> datetime:
    """Contracts terminated before this instant are past their retention."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28) + timedelta(days=1)


def anonymised_email(user_id: str) -> str:
    # Unique per user (the organisation's user index is keyed by email) and undeliverable (.invalid).
    return f"anonimizado-{user_id}@{ANONYMISED_DOMAIN}"


class Redactions:
    """Each personal value found in the organisation (a name, an email, a phone) and what replaces it.

    `scrub` replaces them wherever they occur inside any string of a JSON-like value, ignoring case:
    a ticket's text or an audit entry's before/after keeps its meaning without the person."""

    def __init__(self) -> None:
        self._values: Dict[str, str] = {}
        self._compiled: Optional["re.Pattern[str]"] = None

    def add(self, value: Optional[str], replacement: str = ANONYMISED_TEXT) -> None:
        if value and len(value.strip()) >= 3 and value.casefold() not in self._values:
            self._values[value.casefold()] = replacement
            self._compiled = None

    def extend(self, values: Iterable[Optional[str]], replacement: str = ANONYMISED_TEXT) -> None:
        for value in values:
            self.add(value, replacement)

    def __bool__(self) -> bool:
        return bool(self._values)

    def _pattern(self) -> Optional["re.Pattern[str]"]:
        if not self._values:
            return None
        if self._compiled is not None:
            return self._compiled
        # Longest first: an email is replaced whole before a name inside it is.
        alternatives = sorted(self._values, key=len, reverse=True)
        # Whole words only: a user called "Ive" leaves "active" alone.
        self._compiled = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(v) for v in alternatives) + r")(?!\w)",
                                    re.IGNORECASE)
        return self._compiled

    def scrub(self, value: Any) -> Any:
        pattern = self._pattern()
        if pattern is None:
            return value
        return self._scrub(value, pattern)

    def _scrub(self, value: Any, pattern: "re.Pattern[str]") -> Any:
        if isinstance(value, str):
            return pattern.sub(lambda m: self._values[m.group(0).casefold()], value)
        if isinstance(value, dict):
            return {k: self._scrub(v, pattern) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub(v, pattern) for v in value]
        return value

    def mentions(self, value: Any) -> bool:
        return self.scrub(value) != value
