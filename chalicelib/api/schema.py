"""Request body validation against small JSON Schemas (the same dicts the OpenAPI document shows).

Only the subset the API uses: object/string/integer/boolean/array, required, enum, min/max,
minLength/maxLength, minItems/maxItems, uniqueItems and additionalProperties: false. One error,
the first found, with the field's path, so a client can point at it.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List

from ..domain import error_codes as codes
from ..domain.errors import CATALOGUE, ErrorCode

_TYPES = {
    "object": dict,
    "string": str,
    "array": list,
    "boolean": bool,
}


def _fail(path: str, error: ErrorCode, **details: Any) -> None:
    raise error(field=path or "body", **details)


def _check_integer(value: Any, schema: Dict[str, Any], path: str) -> None:
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, codes.INVALID_TYPE, expected="integer")
    # A field whose bounds are a business rule keeps that rule's code (e.g. `invalid_quantity`),
    # with both bounds in the details.
    error = CATALOGUE[schema["x-error-code"]] if "x-error-code" in schema else codes.OUT_OF_RANGE
    bounds = {name: schema[name] for name in ("minimum", "maximum") if name in schema}
    if ("minimum" in schema and value < schema["minimum"]) or ("maximum" in schema and value > schema["maximum"]):
        _fail(path, error, **bounds)


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _check_string(value: str, schema: Dict[str, Any], path: str) -> None:
    # NUL, and a lone UTF-16 surrogate (JSON "\ud800"): no valid text holds one, and one would fail
    # later when hashed, stored or put in an email.
    if "\x00" in value or _LONE_SURROGATE.search(value):
        _fail(path, codes.INVALID_CHARACTERS)
    if "x-error-code" in schema and value and (
            len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value))
            or ("pattern" in schema and not re.search(schema["pattern"], value))):
        # A field whose format is a business rule (a SKU) keeps that rule's code, whatever part of it fails.
        _fail(path, CATALOGUE[schema["x-error-code"]], rule=schema.get("pattern"))
    stripped = value.strip()
    if len(stripped) < schema.get("minLength", 0):
        _fail(path, codes.TOO_SHORT if stripped else codes.REQUIRED)
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        _fail(path, codes.TOO_LONG, max_length=schema["maxLength"])
    if "pattern" in schema and not re.search(schema["pattern"], value):
        _fail(path, codes.INVALID_FORMAT, pattern=schema["pattern"])


def _check_array(value: List[Any], schema: Dict[str, Any], path: str) -> None:
    if len(value) < schema.get("minItems", 0):
        _fail(path, codes.TOO_FEW_ITEMS, min_items=schema["minItems"])
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        _fail(path, codes.TOO_MANY_ITEMS, max_items=schema["maxItems"])
    if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
        _fail(path, codes.DUPLICATE_ITEMS)
    for index, item in enumerate(value):
        validate(item, schema.get("items", {}), f"{path}[{index}]")


def _check_object(value: Dict[str, Any], schema: Dict[str, Any], path: str) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value or value[name] is None:
            _fail(_join(path, name), codes.REQUIRED)
    if schema.get("additionalProperties") is False:
        for name in value:
            if name not in properties:
                _fail(_join(path, name), codes.UNKNOWN_FIELD)
    for name in [n for n in value if value[n] is None and n not in schema.get("required", [])]:
        del value[name]  # an optional field sent as null is an absent field
    for name, sub in properties.items():
        if name in value:
            validate(value[name], sub, _join(path, name))


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def validate(value: Any, schema: Dict[str, Any], path: str = "") -> Any:
    kind = schema.get("type")
    if kind == "integer":
        _check_integer(value, schema, path)
    elif kind in _TYPES:
        if not isinstance(value, _TYPES[kind]):
            _fail(path, codes.INVALID_TYPE, expected=kind)
        if kind == "string":
            _check_string(value, schema, path)
        elif kind == "array":
            _check_array(value, schema, path)
        elif kind == "object":
            _check_object(value, schema, path)
    if "enum" in schema and value not in schema["enum"]:
        _fail(path, codes.INVALID_VALUE, allowed=list(schema["enum"]))
    return value


# Small builders so route modules read like the contract.
def obj(required: List[str], **properties: Dict[str, Any]) -> Dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


def string(min_length: int = 1, max_length: int = 200, **extra: Any) -> Dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": max_length, **extra}


def integer(minimum: int, maximum: int) -> Dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def sku() -> Dict[str, Any]:
    """A SKU, by the domain's one rule (`domain.catalog.SKU_RULE`); out of it, `invalid_sku`."""
    from ..domain.catalog import SKU_RULE

    return {"type": "string", "minLength": 2, "maxLength": 64, "pattern": SKU_RULE, "x-error-code": "invalid_sku"}


def quantity(minimum: int) -> Dict[str, Any]:
    """A seat count: from `minimum` (0 for a change, 1 for a purchase) to the reseller's maximum,
    the bounds `domain.subscriptions` declares; out of them it is `invalid_quantity`."""
    from ..settings import current

    return {**integer(minimum, current().quantity_limits.maximum), "x-error-code": "invalid_quantity"}
