"""The API contract as the tests hold every answer to it: each 2xx response is checked against the
shape `/openapi.json` publishes for its operation and status, so no route can drift from its
documentation. The shared test client (`tests.support.World.call`) and the local-stack tests call
`check_response` on everything they receive."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple

from jsonschema import Draft202012Validator, FormatChecker


class ContractBroken(AssertionError):
    """An answer the published contract does not describe."""


@lru_cache(maxsize=1)
def _contract() -> Tuple[Dict[str, Any], List[Tuple[str, "re.Pattern[str]", str, Dict[str, Any]]]]:
    import app as _app  # noqa: F401 - registers every route the document describes
    from chalicelib.api.openapi import document

    spec = document()
    operations = []
    for path, methods in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"\\{\w+\\}", "[^/]+", re.escape(path)) + "$")
        for method, operation in methods.items():
            operations.append((method.upper(), pattern, path, operation))
    return spec, operations


def describes(method: str, path: str) -> bool:
    """Whether /openapi.json has an operation for this request (the local stack's S3 links do not)."""
    _, operations = _contract()
    return any(m == method.upper() and pattern.match(path) for m, pattern, _, _ in operations)


def _operation(method: str, path: str) -> Dict[str, Any]:
    _, operations = _contract()
    found = [(template, op) for m, pattern, template, op in operations
             if m == method.upper() and pattern.match(path)]
    if not found:
        raise ContractBroken(f"{method} {path}: no operation in /openapi.json")
    # A literal segment wins over a template one (`/catalog/products` vs `/{sku}`): fewest braces.
    return min(found, key=lambda item: item[0].count("{"))[1]


def check_response(method: str, path: str, status: int, content_type: Optional[str], body: Any) -> None:
    """Fail if a success answer is not what the contract says. `body` is the parsed JSON for JSON
    answers, the raw text otherwise."""
    if status >= 300:
        _check_error(method, path, status, content_type, body)
        return
    operation = _operation(method, path.split("?")[0])
    response = operation["responses"].get(str(status))
    if response is None:
        raise ContractBroken(f"{method} {path}: answered {status}, which /openapi.json does not list")
    content = response.get("content") or {}
    if not content:
        # Only a 204 may publish no content (tests/integration/test_contract.py holds every other
        # success to a schema), and a 204 has no body.
        if status == 204 and body not in (None, b"", ""):
            raise ContractBroken(f"{method} {path}: answered a body with its 204")
        return
    media = (content_type or "").split(";")[0].strip()
    if media not in content:
        raise ContractBroken(f"{method} {path}: answered {media!r}; the contract has {sorted(content)}")
    if media != "application/json":
        return
    schema = content[media].get("schema")
    if schema is None:
        raise ContractBroken(f"{method} {path}: no schema for its {status} answer")
    _validate(method, path, status, schema, body)


def _check_error(method: str, path: str, status: int, content_type: Optional[str], body: Any) -> None:
    """Every error the product answers (JSON) is the one `Error` shape, with a catalogued code."""
    if not (content_type or "").startswith("application/json") or status == 304:
        return
    _validate(method, path, status, {"$ref": "#/components/schemas/Error"}, body)


def _validate(method: str, path: str, status: int, schema: Dict[str, Any], body: Any) -> None:
    spec, _ = _contract()
    # The answer's schema under a root that also holds the components its "#/components/…" refs name.
    root = {"$ref": "#/x-answer", "x-answer": schema, "components": spec["components"]}
    validator = Draft202012Validator(root, format_checker=FormatChecker())
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  at {'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in errors[:10]]
        raise ContractBroken(f"{method} {path} ({status}) does not match its published shape:\n" + "\n".join(lines))
