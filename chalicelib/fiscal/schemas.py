"""The national layout's XSDs (v1.01, as nfelib ships them) and validation against them.

`validate(xml, "DPS")` answers the schema's complaints, [] when the document is valid. The
simulator refuses a DPS or an event with any complaint, so every test that emits a note proves
the XML valid; the real Sefin does the same check on its side.
"""
from __future__ import annotations

import os
import threading
from typing import Dict, List

from lxml import etree

# The root schemas of the documents the product sends or receives.
SCHEMA_FILES = {
    "DPS": "DPS_v1.01.xsd",
    "NFSe": "NFSe_v1.01.xsd",
    "pedRegEvento": "pedRegEvento_v1.01.xsd",
    "evento": "evento_v1.01.xsd",
}

_loaded: Dict[str, etree.XMLSchema] = {}
_lock = threading.Lock()


def schema_directory() -> str:
    import nfelib

    return os.path.join(os.path.dirname(nfelib.__file__), "nfse", "schemas", "v1_0")


def _schema(document: str) -> etree.XMLSchema:
    # Parsing the schemas takes ~100 ms: once per container.
    with _lock:
        if document not in _loaded:
            path = os.path.join(schema_directory(), SCHEMA_FILES[document])
            _loaded[document] = etree.XMLSchema(etree.parse(path))
        return _loaded[document]


def validate(xml: str | bytes, document: str) -> List[str]:
    """The schema's complaints about `xml` as a `document` ("DPS", "NFSe", "pedRegEvento",
    "evento"), each "line N: message"; [] when valid. XML that does not parse is one complaint."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    try:
        root = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as error:
        return [f"not well-formed XML: {error}"]
    schema = _schema(document)
    if schema.validate(root):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
