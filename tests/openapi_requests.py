"""Requests built from /openapi.json: every operation, the smallest valid body for it, its path with
parameters filled in. The permission tests and the per-route benchmark walk the API with these, so
a new route is covered the day it is described."""
import re


def operations(world):
    spec = world.call("GET", "/openapi.json").json_body
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            yield path, method.upper(), operation


def example(schema):
    """A valid value for one of our request schemas (the smallest that passes validation)."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        return {name: example(schema["properties"][name]) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema["items"])] * max(schema.get("minItems", 1), 1)
    if kind == "integer":
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    return "teste@exemplo.example" if schema.get("maxLength") == 254 else "Teste"


def body_for(operation):
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return example(content["schema"]) if content else None


def fill(path, values, operation=None):
    """The path with its parameters, plus the operation's required query parameters."""
    target = re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)
    required = [p for p in (operation or {}).get("parameters", []) if p["in"] == "query" and p["required"]]
    if required:
        target += "?" + "&".join(f"{p['name']}={example(p['schema'])}" for p in required)
    return target
