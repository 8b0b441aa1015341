"""The shapes the API answers: JSON Schema builders and the named shapes `/openapi.json` publishes
as components (`Subscription`, `Invoice`, `SubscriptionPage`…).

A view declares its shape right beside the function that builds the answer
(`SUBSCRIPTION = shape("Subscription", id=text(), …)`), and its routes name it
(`endpoint(…, response=SUBSCRIPTION)`): one declaration, published once, and the tests check every
answer against it. Response shapes are closed (`additionalProperties: false`) with every property
required unless a view says otherwise, so a field added or dropped without its schema fails.
This module is a leaf: plain dicts, no imports of the product, usable by views in `services/` and
by `api/`.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Optional, Sequence

Schema = Dict[str, Any]

COMPONENTS: Dict[str, Schema] = {}


def component(name: str, schema: Schema) -> Schema:
    """Register a named shape; the returned `$ref` is what routes and other shapes use."""
    if name in COMPONENTS and COMPONENTS[name] != schema:
        raise ValueError(f"response shape {name!r} is declared twice")
    COMPONENTS[name] = schema
    return ref(name)


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


# Lean API function (issue #22 §3): shapes a route names before the module that declares them is
# loaded (the billing, documents and bank services load on a route's first use, not with the API
# function). `/openapi.json` loads these modules before it publishes the components.
DECLARED_LATER: Dict[str, str] = {}  # shape name -> the module (dotted) that declares it


def declared_in(module: str, name: str) -> Schema:
    """A `$ref` to the shape `name`, which `module` declares when it is loaded (on first use)."""
    DECLARED_LATER[name] = module
    return ref(name)


def closed(properties: Dict[str, Schema], optional: Iterable[str] = (), description: Optional[str] = None) -> Schema:
    """An object with exactly these properties, each required unless named in `optional`."""
    skipped = set(optional)
    schema: Schema = {"type": "object", "properties": properties,
                      "required": [name for name in properties if name not in skipped],
                      "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def shape(name: str, /, *, optional: Iterable[str] = (), description: Optional[str] = None, **properties: Schema) -> Schema:
    """A named closed object: `shape("Nfse", number=text(), issued_at=date_time(), …)`."""
    return component(name, closed(properties, optional, description))


def page(item: Schema, name: str) -> Schema:
    """The list envelope of API.md, `{"items": [...], "next_token": ...}`, as `<name>Page`."""
    return component(f"{name}Page", closed({"items": array(item), "next_token": nullable(text())},
                                           description=f"Uma página de {name}; `next_token` pede a próxima."))


def nullable(schema: Schema) -> Schema:
    # A named shape or an enum (whose list of values would have to hold null) becomes "this or null".
    if "$ref" in schema or "enum" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*kinds, "null"]}


def text(**extra: Any) -> Schema:
    return {"type": "string", **extra}


def enum(values: Sequence[str]) -> Schema:
    return {"type": "string", "enum": list(values)}


def integer(**extra: Any) -> Schema:
    return {"type": "integer", **extra}


def cents() -> Schema:
    """Money: integer centavos (a negative amount where it is a credit or a removed line)."""
    return {"type": "integer", "description": "centavos"}


def boolean() -> Schema:
    return {"type": "boolean"}


def date() -> Schema:
    return {"type": "string", "format": "date"}


def date_time() -> Schema:
    return {"type": "string", "format": "date-time"}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


def free_form(description: str) -> Schema:
    """An object whose keys are not fixed (an audit entry's before/after picture, an error's details)."""
    return {"type": "object", "description": description}


def currency() -> Schema:
    return {"type": "string", "enum": ["BRL"]}
