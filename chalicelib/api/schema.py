"""Request body validation against small JSON Schemas (the same dicts the OpenAPI document shows).

Only the subset the API uses: object/string/integer/boolean/array, required, enum, min/max,
minLength/maxLength, minItems/maxItems, uniqueItems and additionalProperties: false. One error,
the first found, with the field's path, so a client can point at it.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List

from ..domain.errors import InvalidInput

_TYPES = {
    "object": dict,
    "string": str,
    "array": list,
    "boolean": bool,
}


def _fail(path: str, code: str, message: str, **details: Any) -> None:
    raise InvalidInput(message, code=code, details={"field": path or "body", **details})


def _check_integer(value: Any, schema: Dict[str, Any], path: str) -> None:
    # bool is an int in Python; JSON true is not a number.
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, "invalid_type", f"Campo '{path}' deve ser um número inteiro.", expected="integer")
    # A field whose bounds are a business rule keeps that rule's code (e.g. `invalid_quantity`).
    code = schema.get("x-error-code", "out_of_range")
    if "minimum" in schema and value < schema["minimum"]:
        _fail(path, code, f"Campo '{path}' deve ser no mínimo {schema['minimum']}.",
              minimum=schema["minimum"])
    if "maximum" in schema and value > schema["maximum"]:
        _fail(path, code, f"Campo '{path}' deve ser no máximo {schema['maximum']}.",
              maximum=schema["maximum"])


def _check_string(value: str, schema: Dict[str, Any], path: str) -> None:
    if "\x00" in value:
        _fail(path, "invalid_characters", f"Campo '{path}' contém caracteres inválidos.")
    stripped = value.strip()
    if len(stripped) < schema.get("minLength", 0):
        _fail(path, "required" if not stripped else "too_short", f"Campo '{path}' é obrigatório."
              if not stripped else f"Campo '{path}' é curto demais.")
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        _fail(path, "too_long", f"Campo '{path}' excede {schema['maxLength']} caracteres.",
              max_length=schema["maxLength"])
    if "pattern" in schema and not re.search(schema["pattern"], value):
        _fail(path, "invalid_format", f"Campo '{path}' está em formato inválido.", pattern=schema["pattern"])


def _check_array(value: List[Any], schema: Dict[str, Any], path: str) -> None:
    if len(value) < schema.get("minItems", 0):
        _fail(path, "too_few_items", f"Campo '{path}' precisa de ao menos {schema['minItems']} item(ns).")
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        _fail(path, "too_many_items", f"Campo '{path}' aceita no máximo {schema['maxItems']} itens.")
    if schema.get("uniqueItems") and len({repr(v) for v in value}) != len(value):
        _fail(path, "duplicate_items", f"Campo '{path}' tem itens repetidos.")
    for index, item in enumerate(value):
        validate(item, schema.get("items", {}), f"{path}[{index}]")


def _check_object(value: Dict[str, Any], schema: Dict[str, Any], path: str) -> None:
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value or value[name] is None:
            _fail(_join(path, name), "required", f"Campo '{_join(path, name)}' é obrigatório.")
    if schema.get("additionalProperties") is False:
        for name in value:
            if name not in properties:
                _fail(_join(path, name), "unknown_field", f"Campo '{_join(path, name)}' não é aceito.")
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
            _fail(path, "invalid_type", f"Campo '{path or 'corpo'}' deve ser do tipo {kind}.", expected=kind)
        if kind == "string":
            _check_string(value, schema, path)
        elif kind == "array":
            _check_array(value, schema, path)
        elif kind == "object":
            _check_object(value, schema, path)
    if "enum" in schema and value not in schema["enum"]:
        _fail(path, "invalid_value", f"Valor inválido para '{path}'.", allowed=list(schema["enum"]))
    return value


# Small builders so route modules read like the contract.
def obj(required: List[str], **properties: Dict[str, Any]) -> Dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, "additionalProperties": False}


def string(min_length: int = 1, max_length: int = 200, **extra: Any) -> Dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": max_length, **extra}


def integer(minimum: int, maximum: int) -> Dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def quantity(minimum: int) -> Dict[str, Any]:
    """A seat count: from `minimum` (0 for a change, 1 for a purchase) to the reseller's maximum,
    the bounds `domain.subscriptions` declares; out of them it is `invalid_quantity`."""
    from ..settings import current

    return {**integer(minimum, current().quantity_limits.maximum), "x-error-code": "invalid_quantity"}
