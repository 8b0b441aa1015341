"""LGPD rules without AWS: the export file's layout, what anonymisation replaces, the retention dates."""
import csv
import io
import json
import zipfile
from datetime import datetime, timezone

from chalicelib.domain.privacy import (ANONYMISED_NAME, EXPORT_TABLES, DataExport, Redactions, build_export_zip,
                                       link_seconds_left, retention_cutoff, retention_ends)


def test_every_table_is_in_the_zip_as_json_and_csv_with_the_same_rows():
    tables = {"users": [{"id": "u1", "name": "José Açaí", "roles": ["master"]}, {"id": "u2", "email": "a@b.c"}],
              "invoices": [{"id": "i1", "lines": [{"amount_cents": 100}], "final": False}]}
    archive = zipfile.ZipFile(io.BytesIO(build_export_zip(tables, {"exported_by": "u1"})))
    names = set(archive.namelist())
    assert names == {f"{t}.{ext}" for t in EXPORT_TABLES for ext in ("json", "csv")} | {"manifest.json", "LEIA-ME.txt"}
    users_csv = list(csv.reader(io.StringIO(archive.read("users.csv").decode("utf-8-sig"))))
    assert users_csv == [["id", "name", "roles", "email"], ["u1", "José Açaí", '["master"]', ""], ["u2", "", "", "a@b.c"]]
    assert json.loads(archive.read("users.json")) == tables["users"]
    invoices_csv = list(csv.DictReader(io.StringIO(archive.read("invoices.csv").decode("utf-8-sig"))))
    assert invoices_csv == [{"id": "i1", "lines": '[{"amount_cents": 100}]', "final": "false"}]
    assert archive.read("tickets.csv").decode("utf-8-sig") == "\r\n"  # no rows: an empty header
    assert json.loads(archive.read("manifest.json"))["rows"]["users"] == 2


def test_personal_values_are_replaced_as_whole_words_in_any_case_inside_nested_values():
    redactions = Redactions()
    redactions.add("Ive Souza", ANONYMISED_NAME)
    redactions.add("ive@empresa.example", "anonimizado-1@anonimizado.invalid")
    picture = {"name": "IVE SOUZA", "status": "active", "note": ["Ive Souzas", "escreva a ive@empresa.example."]}
    assert redactions.scrub(picture) == {"name": ANONYMISED_NAME, "status": "active",
                                         "note": ["Ive Souzas", "escreva a anonimizado-1@anonimizado.invalid."]}
    assert redactions.mentions("fale com ive souza") and not redactions.mentions("Ive")


def test_values_too_short_to_be_personal_are_not_replaced():
    redactions = Redactions()
    redactions.extend(["", None, "ab"])
    assert not redactions and redactions.scrub({"a": "ab"}) == {"a": "ab"}


def test_retention_counts_whole_years_from_the_end_of_the_contract_and_a_29_february_falls_back():
    ended = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)
    assert retention_ends(ended, 5) == datetime(2031, 11, 20, 15, tzinfo=timezone.utc)
    assert retention_ends(datetime(2028, 2, 29, tzinfo=timezone.utc), 5) == datetime(2033, 2, 28, tzinfo=timezone.utc)
    assert retention_cutoff(datetime(2031, 11, 21, tzinfo=timezone.utc), 5) > ended
    assert retention_cutoff(datetime(2031, 11, 20, 14, tzinfo=timezone.utc), 5) < ended
    assert retention_cutoff(datetime(2032, 2, 29, tzinfo=timezone.utc), 5) == datetime(2027, 3, 1, tzinfo=timezone.utc)


def test_a_link_never_outlives_its_export():
    export = DataExport(id="e", organization_id="o", key="k", requested_by="u", created_at="2026-11-20T12:00:00+00:00",
                        expires_at=datetime(2026, 11, 20, 12, 15, tzinfo=timezone.utc), size_bytes=1, rows=1)
    assert link_seconds_left(export, datetime(2026, 11, 20, 12, 10, tzinfo=timezone.utc)) == 300
    assert link_seconds_left(export, datetime(2026, 11, 20, 12, 15, tzinfo=timezone.utc)) == 0
    assert link_seconds_left(export, datetime(2026, 11, 20, 13, tzinfo=timezone.utc)) == 0


def test_text_that_a_spreadsheet_would_run_as_a_formula_stays_text_in_the_csv_and_whole_in_the_json():
    hostile = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "ok"]
    tables = {"tickets": [{"subject": s, "amount_cents": -500} for s in hostile]}
    archive = zipfile.ZipFile(io.BytesIO(build_export_zip(tables, {"exported_by": "u1"})))
    rows = list(csv.DictReader(io.StringIO(archive.read("tickets.csv").decode("utf-8-sig"))))
    assert [r["subject"] for r in rows] == ["'" + s for s in hostile[:-1]] + ["ok"]
    assert {r["amount_cents"] for r in rows} == {"-500"}  # numbers are numbers, not text
    assert [t["subject"] for t in json.loads(archive.read("tickets.json"))] == hostile
