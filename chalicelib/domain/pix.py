"""Pix BR Code (EMV® QRCPS merchant-presented mode) for the boleto híbrido: the "copia e cola"
payload with its CRC16-CCITT, as the Banco Central's Pix manual specifies."""
from __future__ import annotations

import re
import unicodedata
from typing import List, Tuple

from . import error_codes as codes

PIX_GUI = "br.gov.bcb.pix"


def crc16_ccitt(data: bytes) -> str:
    """CRC16-CCITT-FALSE (polynomial 0x1021, initial 0xFFFF), four upper-case hex digits."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return f"{crc:04X}"


def _field(tag: str, value: str) -> str:
    if len(value) > 99:
        raise codes.INVALID_PIX(reason="field_too_long", tag=tag)
    return f"{tag}{len(value):02d}{value}"


def _ascii(text: str, limit: int) -> str:
    """Names and cities go without accents and within the field's size (the manual's advice)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"\s+", " ", folded).strip()[:limit]


def payload(*, key: str, merchant_name: str, merchant_city: str, amount_cents: int = 0, txid: str = "***") -> str:
    """The BR Code for a payment of `amount_cents` (0: the payer types the amount) to `key`."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,25}|\*\*\*", txid):
        raise codes.INVALID_PIX(reason="txid")
    fields: List[Tuple[str, str]] = [
        ("00", "01"),
        ("26", _field("00", PIX_GUI) + _field("01", key)),
        ("52", "0000"),
        ("53", "986"),  # BRL
    ]
    if amount_cents:
        fields.append(("54", f"{amount_cents // 100}.{amount_cents % 100:02d}"))
    fields += [("58", "BR"), ("59", _ascii(merchant_name, 25)), ("60", _ascii(merchant_city, 15)),
               ("62", _field("05", txid))]
    body = "".join(_field(tag, value) for tag, value in fields) + "6304"
    return body + crc16_ccitt(body.encode("utf-8"))


def dynamic_payload(*, location_url: str, merchant_name: str, merchant_city: str, amount_cents: int = 0) -> str:
    """A dynamic BR Code: instead of a key it names the location (URL without scheme) where the
    payer's bank fetches the charge, its amount, due date, fine and interest (a `cobv`). The bank
    generates it; the simulated bank and the fakes build theirs with this."""
    location = location_url.split("://", 1)[-1]
    if not location or len(location) > 77:
        raise codes.INVALID_PIX(reason="location")
    fields: List[Tuple[str, str]] = [
        ("00", "01"),
        ("01", "12"),  # point of initiation 12: one payment only
        ("26", _field("00", PIX_GUI) + _field("25", location)),
        ("52", "0000"),
        ("53", "986"),
    ]
    if amount_cents:
        fields.append(("54", f"{amount_cents // 100}.{amount_cents % 100:02d}"))
    fields += [("58", "BR"), ("59", _ascii(merchant_name, 25)), ("60", _ascii(merchant_city, 15)),
               ("62", _field("05", "***"))]
    body = "".join(_field(tag, value) for tag, value in fields) + "6304"
    return body + crc16_ccitt(body.encode("utf-8"))


def dynamic_location(code: str) -> str:
    """The location URL a dynamic BR Code names, after checking it is one: a valid CRC, Pix's GUI,
    and a location (tag 26-25) rather than a static key. Raises `invalid_pix` otherwise: a bank's
    answer that is not a dynamic code must not reach a boleto."""
    fields = parse(code)
    account = parse_fields(fields.get("26", ""))
    if account.get("00", "").lower() != PIX_GUI or not account.get("25"):
        raise codes.INVALID_PIX(reason="not_dynamic")
    return account["25"]


def parse_fields(data: str) -> dict:
    """The fields of a template (tag, size, value repeated), without a CRC."""
    fields, position = {}, 0
    while position + 4 <= len(data):
        tag, size = data[position:position + 2], data[position + 2:position + 4]
        if not size.isdigit():
            raise codes.INVALID_PIX(reason="malformed")
        fields[tag] = data[position + 4:position + 4 + int(size)]
        position += 4 + int(size)
    if position != len(data):
        raise codes.INVALID_PIX(reason="malformed")
    return fields


def parse(code: str) -> dict:
    """The top-level fields of a BR Code, after checking its CRC (for tests and support)."""
    if len(code) < 8 or crc16_ccitt(code[:-4].encode("utf-8")) != code[-4:].upper():
        raise codes.INVALID_PIX(reason="crc")
    return parse_fields(code)
