"""The contract to read: its versioned pt-BR text with the organisation's items and prices, as JSON
and as a PDF behind a short-lived link; the acceptance records the version the document shows."""
import shutil
import subprocess

import pytest
import requests

from chalicelib.domain.money import format_brl
from chalicelib.domain.roles import Role
from chalicelib.services.contract_document import contract_text


def test_the_document_holds_the_version_the_text_and_the_organisations_items_at_their_prices(world):
    world.seed_catalog()
    org = world.organization(name="Padaria Documento Ltda", items=(("MS365-E3", 10), ("EXO-PLAN1", 3)))
    response = world.call("GET", "/contract/document", org.master)
    assert response.status_code == 200
    doc = response.json_body
    version = world.deps.settings.contract_version
    assert doc["version"] == version == contract_text(version)["version"]
    assert doc["title"] and len(doc["sections"]) >= 5
    text = " ".join(p for s in doc["sections"] for p in s["paragraphs"])
    assert "Padaria Documento Ltda" in text and "{" not in text  # every placeholder filled
    assert f"todo dia {org.contract.closing_day}" in text
    assert doc["items"] == [
        {"sku": "MS365-E3", "name": "Microsoft 365 E3", "quantity": 10, "unit_price_cents": 20710,
         "monthly_cents": 207100},
        {"sku": "EXO-PLAN1", "name": "Exchange Online (Plano 1)", "quantity": 3, "unit_price_cents": 2210,
         "monthly_cents": 6630}]
    assert doc["total_monthly_cents"] == 207100 + 6630 and doc["currency"] == "BRL"
    assert "X-Amz-Expires=" in doc["pdf_url"]  # a short-lived link
    pdf = requests.get(doc["pdf_url"], timeout=10).content
    assert pdf.startswith(b"%PDF")


@pytest.mark.skipif(not shutil.which("pdftotext"), reason="pdftotext (poppler-utils) is not installed")
def test_the_pdf_reads_as_the_document_its_version_items_and_prices(world, tmp_path):
    world.seed_catalog()
    org = world.organization(name="Padaria PDF Ltda", items=(("MS365-E3", 10),))
    doc = world.call("GET", "/contract/document", org.master).json_body
    (tmp_path / "c.pdf").write_bytes(requests.get(doc["pdf_url"], timeout=10).content)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "c.pdf"), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert f"Versão {doc['version']}" in text and "Padaria PDF Ltda" in text
    assert doc["sections"][0]["heading"] in text
    assert "Microsoft 365 E3" in text and format_brl(20710) in text and format_brl(207100) in text
    assert "Total mensal" in text


def test_every_profile_reads_the_document_and_the_acceptance_records_its_version(world):
    world.seed_catalog()
    org = world.organization(items=(("MS365-E3", 2),))
    profiles = world.profiles(org)
    for role in (Role.ADM, Role.COBRANCA, Role.SUPORTE):
        assert world.call("GET", "/contract/document", profiles[role]).status_code == 200
    doc = world.call("GET", "/contract/document", org.master).json_body
    world.accept_contract(org)
    contract = world.call("GET", "/contract", org.master).json_body
    assert contract["accepted_version"] == doc["version"] == contract["current_document_version"]


def test_a_version_without_a_text_is_a_plain_404(world, monkeypatch):
    from dataclasses import replace

    world.seed_catalog()
    org = world.organization()
    monkeypatch.setattr(world.deps, "settings", replace(world.deps.settings, contract_version="1999.9"))
    response = world.call("GET", "/contract/document", org.master)
    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "contract_document_not_found"
    assert "versão 1999.9" in response.json_body["error"]["message"]
