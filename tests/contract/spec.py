"""Xero's vendored OpenAPI 3.0 spec as JSON Schema validators, for the contract tests.

Converted here, independently of the sandbox's own validation, so a mistake in one is not
silently shared by the other:
- `nullable: true` becomes a `null` type (and a `None` enum member);
- `$ref: #/components/schemas/X` resolves through a registry;
- `readOnly` is ignored (Xero marks many fields readOnly that its own answers carry);
- `strict=True` additionally forbids properties the spec does not know, so a misspelt field
  in a request (`Lineitems`) fails instead of being silently ignored by Xero.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

import accounts_sync

SPEC_PATH = Path(accounts_sync.__file__).parent / "demo" / "xero_sandbox" / "spec" / "xero_accounting.yaml"
BASE = "urn:contract-tests:xero-accounting"
_DROPPED = {"example", "examples", "externalDocs", "discriminator", "xml", "readOnly", "writeOnly",
            "deprecated"}


def _convert(node: Any, strict: bool) -> Any:
    if isinstance(node, list):
        return [_convert(item, strict) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-") or key in _DROPPED:
            continue
        if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
            out[key] = BASE + value
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _convert(schema, strict) for name, schema in value.items()}
            continue
        out[key] = _convert(value, strict)
    if out.pop("nullable", False) is True:
        if "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    if strict and "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=1)
def _raw_schemas() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC_PATH.open("rb") as handle:
        spec = yaml.load(handle, Loader=loader)  # noqa: S506 - a safe loader either way
    return spec["components"]["schemas"]


@lru_cache(maxsize=2)
def _registry(strict: bool) -> Registry:
    schemas = {name: _convert(schema, strict) for name, schema in _raw_schemas().items()}
    resource = Resource.from_contents({"components": {"schemas": schemas}}, default_specification=DRAFT4)
    return Registry().with_resource(BASE, resource)


@lru_cache(maxsize=64)
def validator(name: str, strict: bool = True) -> Draft4Validator:
    if name not in _raw_schemas():
        raise KeyError(f"no schema {name!r} in the spec")
    return Draft4Validator({"$ref": f"{BASE}#/components/schemas/{name}"}, registry=_registry(strict))


def problems(name: str, instance: Any, strict: bool = True) -> list[str]:
    errors = sorted(validator(name, strict).iter_errors(instance), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in errors]


def assert_valid(name: str, instance: Any, strict: bool = True, tolerate: tuple[str, ...] = ()) -> None:
    """`tolerate`: paths of known deviations of the *sandbox* (not of our requests)."""
    tolerated = tuple(f"{path}:" for path in tolerate)
    found = [p for p in problems(name, instance, strict) if not (tolerated and p.startswith(tolerated))]
    assert not found, f"{name} does not match Xero's spec:\n" + "\n".join(found[:20])
