"""A Brazilian postal address as the national NFS-e asks for the service taker's: CEP, street,
number, complement, district, and the município by its IBGE code (with its name and state).

Pure. `normalize_address` validates what onboarding and the back office send and answers the stored
value, or raises `invalid_address` (422) naming the field and what is wrong with it. The município's
name and UF always come from the IBGE table (`data/municipios.csv.gz`, from kelvins/municipios-
brasileiros, MIT: see `data/NOTICE`), never from the client: the nota fiscal carries the code, and
the name shown beside it must be the code's.
"""
from __future__ import annotations

import csv
import gzip
import io
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, Mapping, Optional, Tuple

from . import error_codes as codes


@dataclass(frozen=True)
class Address:
    cep: str  # 8 digits, no punctuation
    street: str  # logradouro
    number: str  # número ("S/N" when there is none)
    district: str  # bairro
    city_code: str  # the município's 7-digit IBGE code
    city: str  # its name, as IBGE spells it
    state: str  # UF, two letters
    complement: Optional[str] = None


# The DPS's own limits (DPS_v1.01.xsd: TSLogradouro, TSNumeroEndereco, TSComplementoEndereco,
# TSBairro): an address that fits them fits every nota fiscal it goes on.
MAX_LENGTHS = {"street": 255, "number": 60, "complement": 156, "district": 60}
NO_NUMBER = "S/N"

_LABELS = {"street": "o logradouro", "number": "o número (ou S/N)", "district": "o bairro",
           "complement": "o complemento"}
# Typographic characters a browser or a word processor puts in where the nota fiscal's text
# (Latin-1, XSD TSString) has a plain one.
_TYPOGRAPHIC = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                              "\u2014": "-", "\u2026": "..."})
_PRINTABLE_LATIN1 = re.compile(r"[\x20-\x7e\xa0-\xff]*")


@lru_cache(maxsize=1)
def _municipalities() -> Dict[str, Tuple[str, str]]:
    """code -> (name, UF), read once per process (about 5,570 rows, 48 kB compressed)."""
    raw = resources.files(__package__).joinpath("data/municipios.csv.gz").read_bytes()
    with io.TextIOWrapper(gzip.GzipFile(fileobj=io.BytesIO(raw)), encoding="utf-8") as text:
        return {row["code"]: (row["name"], row["uf"]) for row in csv.DictReader(text)}


def municipality(code: str) -> Optional[Tuple[str, str]]:
    """The município of an IBGE code as (name, UF), or None for a code IBGE does not have."""
    return _municipalities().get((code or "").strip())


def _fail(prefix: str, name: str, reason: str):
    return codes.INVALID_ADDRESS(field=f"{prefix}.{name}" if prefix else name, reason=reason)


def _text(raw: Mapping[str, Any], name: str, prefix: str, *, required: bool = True) -> Optional[str]:
    value = raw.get(name)
    if isinstance(value, int) and not isinstance(value, bool) and name == "number":
        value = str(value)
    if value is not None and not isinstance(value, str):
        raise _fail(prefix, name, "deve ser um texto")
    # One space for any run of blanks (a line break pasted in included): the XSD refuses control
    # characters and blanks at either end.
    value = " ".join((value or "").translate(_TYPOGRAPHIC).split())
    if not value:
        if required:
            raise _fail(prefix, name, f"informe {_LABELS[name]}")
        return None
    if len(value) > MAX_LENGTHS[name]:
        raise _fail(prefix, name, f"{_LABELS[name]} excede {MAX_LENGTHS[name]} caracteres")
    if not _PRINTABLE_LATIN1.fullmatch(value):
        raise _fail(prefix, name, "use apenas letras, números e pontuação comum")
    return value


def _folded(name: str) -> str:
    """A município's name compared without accents, case, punctuation or spacing."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]", "", plain.lower())


def normalize_cep(raw: Any, prefix: str = "") -> str:
    cep = re.sub(r"[.\-\s]", "", raw) if isinstance(raw, str) else ""
    if not re.fullmatch(r"[0-9]{8}", cep) or cep == "00000000":
        raise _fail(prefix, "cep", "o CEP deve ter 8 dígitos (ex.: 01310-100)")
    return cep


def normalize_address(raw: Mapping[str, Any], prefix: str = "") -> Address:
    """The address to store, from what a client sent: {cep, street, number, complement?, district,
    city_code, state?, city?}. `state` and `city`, when sent, must be those of `city_code`'s
    município; the stored ones are the table's. `prefix` is the field's path in the request body
    ("address" on onboarding), so the error names the field as the client sent it."""
    if not isinstance(raw, Mapping):
        raise codes.INVALID_ADDRESS(field=prefix or "address", reason="informe o endereço")
    cep = normalize_cep(raw.get("cep"), prefix)
    street = _text(raw, "street", prefix)
    number = _text(raw, "number", prefix)
    if _folded(number) == "sn":
        number = NO_NUMBER
    complement = _text(raw, "complement", prefix, required=False)
    district = _text(raw, "district", prefix)
    code = raw.get("city_code")
    code = code.strip() if isinstance(code, str) else ""
    if not re.fullmatch(r"[0-9]{7}", code):
        raise _fail(prefix, "city_code", "informe o código IBGE do município, 7 dígitos (ex.: 3550308)")
    found = municipality(code)
    if found is None:
        raise _fail(prefix, "city_code", f"o código IBGE {code} não é de nenhum município")
    city, state = found
    # Optional: blank is absent (a form's empty field).
    sent_state, sent_city = (None if isinstance(value, str) and not value.strip() else value
                             for value in (raw.get("state"), raw.get("city")))
    if sent_state is not None and (not isinstance(sent_state, str) or sent_state.strip().upper() != state):
        raise _fail(prefix, "state", f"o município {code} ({city}) fica em {state}")
    if sent_city is not None and (not isinstance(sent_city, str) or _folded(sent_city) != _folded(city)):
        raise _fail(prefix, "city", f"o município do código {code} é {city}/{state}")
    return Address(cep=cep, street=street, number=number, district=district, city_code=code, city=city,
                   state=state, complement=complement)


def format_cep(cep: str) -> str:
    return f"{cep[:5]}-{cep[5:]}"
