"""Query strings checked against the parameters a route declares (the dicts /openapi.json shows).

A route declares `query={name: schema}`; a paginated one also gets `PAGE` (`limit`, `next_token`).
Values arrive as text and leave typed: an integer is ASCII digits (a leading '-' only where the
minimum allows one), no longer than its bounds need; a boolean is `true` or `false`. Each value is
then checked like a body field (`schema.validate`: range, enum, pattern, length). A parameter the
route does not declare, or a required one missing, is refused too: a misspelt filter must not
quietly return the unfiltered list.

Two keys of a declaration are ours, not JSON Schema's, and stay out of the published schema:
`required` (published on the parameter itself) and `x-error-code`, the code every failure of that
parameter carries, so that codes clients rely on (`invalid_limit`) keep coming out.
"""
from __future__ import annotations

import re
from typing import Any, Dict, Mapping, Optional

from ..domain import error_codes as codes
from ..domain.errors import CATALOGUE, DomainError, ErrorCode, InvalidInput
from . import schema as schemas

MAX_PAGE = 100
DEFAULT_PAGE = 50
# Tokens are the storage's page keys in base64url; anything else cannot be one.
PAGE: Dict[str, Dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE,
              "x-error-code": "invalid_limit"},
    "next_token": {"type": "string", "maxLength": 2048, "pattern": r"^[A-Za-z0-9_=-]*$",
                   "x-error-code": "invalid_next_token"},
}
TYPES = ("string", "integer", "boolean")
_OURS = ("required", "x-error-code")
# Digits allowed for an integer without both bounds: int() stays cheap and the value a DynamoDB number.
_MAX_DIGITS = 18


def published(schema: Dict[str, Any]) -> Dict[str, Any]:
    """The declaration as a JSON Schema, for /openapi.json."""
    return {k: v for k, v in schema.items() if k not in _OURS}


def is_required(schema: Dict[str, Any]) -> bool:
    return bool(schema.get("required"))


def error_code(schema: Dict[str, Any]) -> Optional[str]:
    return schema.get("x-error-code")


def check_declaration(name: str, schema: Dict[str, Any]) -> None:
    """Called when a route is registered: a type a query string cannot carry is a programming error."""
    if schema.get("type") not in TYPES:
        raise ValueError(f"query parameter {name!r}: type must be one of {TYPES}, not {schema.get('type')!r}")
    if error_code(schema) is not None and error_code(schema) not in CATALOGUE:
        raise ValueError(f"query parameter {name!r}: {error_code(schema)!r} is not a catalogued error code")


def validate(raw: Mapping[str, str], declared: Dict[str, Dict[str, Any]], *,
             ignore_unknown: bool = False) -> Dict[str, Any]:
    """The declared parameters, typed, defaults filled in; the first problem found is a 400."""
    if not ignore_unknown:
        for name in raw:
            if name not in declared:
                raise codes.UNKNOWN_PARAMETER(field=name, allowed=sorted(declared))
    values: Dict[str, Any] = {}
    for name, schema in declared.items():
        if name in raw:
            values[name] = _parameter(name, raw[name], schema)
        elif is_required(schema):
            raise _error(name, schema, codes.REQUIRED)
        elif "default" in schema:
            values[name] = schema["default"]
    return values


def _parameter(name: str, text: str, schema: Dict[str, Any]) -> Any:
    value = _typed(name, text, schema)
    try:
        return schemas.validate(value, schema, name)
    except InvalidInput as exc:
        raise _error(name, schema, CATALOGUE[exc.code], **exc.details) from None


def _typed(name: str, text: str, schema: Dict[str, Any]) -> Any:
    kind = schema["type"]
    if kind == "integer":
        if not re.fullmatch(_integer_pattern(schema), text):
            raise _error(name, schema, codes.INVALID_TYPE, expected="integer")
        return int(text)
    if kind == "boolean":
        if text not in ("true", "false"):
            raise _error(name, schema, codes.INVALID_TYPE, expected="boolean")
        return text == "true"
    return text


def _integer_pattern(schema: Dict[str, Any]) -> str:
    minimum, maximum = schema.get("minimum"), schema.get("maximum")
    sign = "-?" if minimum is None or minimum < 0 else ""
    # As many digits as the widest bound (leading zeros included), so a huge number is refused unread.
    digits = (max(len(str(abs(minimum))), len(str(abs(maximum))))
              if minimum is not None and maximum is not None else _MAX_DIGITS)
    return rf"{sign}[0-9]{{1,{digits}}}"


def _error(name: str, schema: Dict[str, Any], found: ErrorCode, **details: Any) -> DomainError:
    """`found`, or the code the parameter declares, which then answers whatever failed and is
    given the parameter's bounds (its message may name them)."""
    declared = error_code(schema)
    if declared is None:
        return found(**{**details, "field": name})
    bounds = {bound: schema[bound] for bound in ("minimum", "maximum") if bound in schema}
    return CATALOGUE[declared](**{**bounds, **details, "field": name})
