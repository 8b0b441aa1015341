"""The contract's text to read and accept (`GET /contract/document`): the version the settings name
(the one an acceptance records), filled with the organisation's data and its contracted items at
the prices in force, and the same document as a PDF in S3 behind a short-lived link."""
from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Dict, Protocol

from ..domain import catalog as catalog_rules
from ..domain import contract_document as rules
from ..domain import error_codes as codes
from ..domain.clock import local_day
from ..rendering.environment import TEMPLATES_DIR
from ..schemas import array, cents, closed, component, currency, integer, nullable, shape, text
from .caller import Caller

if TYPE_CHECKING:  # what these use cases need from the container (services/__init__.py)
    from ..adapters.documents import S3DocumentStore
    from ..settings import Settings
    from ..storage.repositories import CatalogRepository, ContractRepository, OrganizationRepository
    from .audit import Clocked

    class ContractDocumentDeps(Clocked, Protocol):
        """The contract and its organisation, the catalog's prices, the text's version (settings)
        and the store the PDF is linked from."""

        settings: Settings
        contracts: ContractRepository
        organizations: OrganizationRepository
        catalog: CatalogRepository
        documents: S3DocumentStore


CONTRACT_TEXT_DIR = os.path.join(TEMPLATES_DIR, "contract")
_VERSION = re.compile(r"^[0-9A-Za-z._-]{1,40}$")

DOCUMENT_SECTION = shape("ContractDocumentSection", description="Uma cláusula: seu título e parágrafos.",
                         heading=text(), paragraphs=array(text()))
DOCUMENT_ITEM = component("ContractDocumentItem", closed(
    {"sku": text(), "name": text(), "quantity": integer(minimum=1), "unit_price_cents": nullable(cents()),
     "monthly_cents": nullable(cents())},
    description="Um item contratado com o preço mensal por licença em vigor (null se o catálogo não tem preço) "
                "e o valor mensal da quantidade."))
CONTRACT_DOCUMENT = shape(
    "ContractDocument", description="O texto do contrato na versão que o aceite registra (`version`), com os "
                                    "dados da organização, os itens contratados e seus preços mensais, e o PDF do "
                                    "mesmo documento (`pdf_url`, link de curta duração).",
    version=text(), title=text(), sections=array(DOCUMENT_SECTION), items=array(DOCUMENT_ITEM),
    total_monthly_cents=cents(), currency=currency(), pdf_url=text(format="uri"))


@lru_cache(maxsize=8)
def contract_text(version: str) -> Dict[str, Any]:
    """The text of `version` (templates/contract/<version>.json); 404 if there is none."""
    path = os.path.join(CONTRACT_TEXT_DIR, f"{version}.json")
    if not _VERSION.match(version) or not os.path.exists(path):
        raise codes.CONTRACT_DOCUMENT_NOT_FOUND(version=version)
    with open(path, encoding="utf-8") as handle:
        loaded = json.load(handle)
    if str(loaded.get("version")) != version:  # the file says which version it is
        raise codes.CONTRACT_DOCUMENT_NOT_FOUND(version=version)
    return loaded


def document(deps: ContractDocumentDeps, caller: Caller) -> Dict[str, Any]:
    """The organisation's contract document, as `CONTRACT_DOCUMENT` shows it. The PDF is rendered
    into S3 under the organisation at a key naming its content's digest (the same document, the
    same file, rendered and put only when not stored yet), then linked."""
    contract = deps.contracts.get(caller.organization_id)
    organization = deps.organizations.get(caller.organization_id)
    today = local_day(deps.clock())
    products = deps.catalog.by_sku(today)
    items = []
    for item in contract.items:
        product = products.get(item.sku) or deps.catalog.get(item.sku)
        price = catalog_rules.quote(product, today, contract.closing_day).unit_price_cents if product else None
        items.append(rules.DocumentItem(sku=item.sku, name=item.name, quantity=item.quantity, unit_price_cents=price))
    built = rules.build(contract_text(deps.settings.contract_version), organization_name=organization.name,
                        cnpj=organization.cnpj, closing_day=contract.closing_day,
                        payment_method=contract.payment_method, items=items)
    pdf_data = {**built, "organization": organization.name}
    digest = hashlib.sha256(json.dumps(pdf_data, sort_keys=True).encode()).hexdigest()[:16]
    key = f"organizations/{organization.id}/contract/contrato-{built['version']}-{digest}.pdf"
    if not deps.documents.exists(key):  # the same digest, the same file: rendered and stored once
        from ..rendering import pdf  # reportlab on first use

        deps.documents.put(key, pdf.contract_pdf(pdf_data), "application/pdf")
    return {**built, "currency": "BRL",
            "pdf_url": deps.documents.link(key, f"contrato-{built['version']}.pdf")}
