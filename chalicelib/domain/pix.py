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


def parse(code: str) -> dict:
    """The top-level fields of a BR Code, after checking its CRC (for tests and support)."""
    if len(code) < 8 or crc16_ccitt(code[:-4].encode("utf-8")) != code[-4:].upper():
        raise codes.INVALID_PIX(reason="crc")
    fields, position = {}, 0
    while position < len(code):
        tag, size = code[position:position + 2], int(code[position + 2:position + 4])
        fields[tag] = code[position + 4:position + 4 + size]
        position += 4 + size
    return fields
