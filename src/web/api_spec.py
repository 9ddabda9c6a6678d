"""The API's OpenAPI 3.1 description, generated from the operations declared in `api.py` and
their pydantic models: pydantic writes each model's JSON Schema (draft 2020-12, the dialect of
OpenAPI 3.1) and openapi-pydantic checks the assembled document against OpenAPI 3.1's object
model, so a malformed description fails the tests, not an integrator's client generator.

Paths come from the app's URL map (the blueprint may be mounted anywhere); the document is
built once per app and kept.
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from flask import current_app
from openapi_pydantic import OpenAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import api_models as m
from .api import COMMON_ERRORS, FORM_BODIES, JSON_BODY, OPERATIONS, Operation

REF = "#/components/schemas/{model}"
CACHE_KEY = "accounts_sync_openapi"
VERSION = "1.0.0"

DESCRIPTION = """\
Accounts Sync's JSON API: preview what a sync would send to Xero, list unsynced documents,
open a production journal, start a sync and follow it.

**Authentication.** Every call needs a user the host ERP knows, with its *can view costs*
permission (401 without a user, 403 without the permission). A browser uses its session
cookie; a state-changing call then also needs the page's CSRF token in `X-CSRFToken`. A
script uses a token the host issues, sent as `Authorization: Bearer <token>` (the host's
flask-login request loader turns it into a user); such calls need no CSRF token, as no other
site can make a browser send that header.

**Errors.** Every error answer is `{"error": {"code": ..., "message": ...}}`: `code` is
stable, `message` is one plain sentence to show a person.

**Money** is a decimal string with two places; dates are ISO 8601.
"""


def openapi_document() -> str:
    """The description as JSON text (built on first use, then kept per app)."""
    cached = current_app.extensions.get(CACHE_KEY)
    if cached is None:
        cached = json.dumps(build_openapi(), indent=1)
        current_app.extensions[CACHE_KEY] = cached
    return cached


def build_openapi() -> dict[str, Any]:
    operations = [op for op in OPERATIONS if op.in_spec]
    models = _models(operations)
    _, schemas = models_json_schema([(model, "serialization") for model in models], ref_template=REF)
    rules = {rule.endpoint: rule.rule for rule in current_app.url_map.iter_rules()}
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        template = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rules[f"accounts_sync.{op.endpoint}"])
        paths.setdefault(template, {})[op.method.lower()] = _operation(op)
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Accounts Sync API", "version": VERSION, "description": DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": schemas.get("$defs", {}),
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie",
                            "name": current_app.config.get("SESSION_COOKIE_NAME", "session"),
                            "description": "The host's login session (browsers); POSTs also "
                                           "send the page's CSRF token in X-CSRFToken"},
                "hostToken": {"type": "http", "scheme": "bearer",
                              "description": "A token the host ERP issues to a user, read by its "
                                             "flask-login request loader (scripts)"},
            },
        },
        "security": [{"session": []}, {"hostToken": []}],
    }
    OpenAPI.model_validate(document)  # raises when the document breaks OpenAPI 3.1's rules
    return document


def _models(operations: list[Operation]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"Error": m.Error}
    for op in operations:
        for model, _ in op.responses.values():
            if model is not None:
                found[model.__name__] = model
        if op.body is not None:
            found[op.body.__name__] = op.body
    return list(found.values())


def _operation(op: Operation) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": ["runs" if "run" in op.operation_id.lower() or op.method == "POST" else "books"],
        "parameters": [*_parameters(op.path, "path"), *_parameters(op.query, "query")],
        "responses": {},
    }
    if op.operation_id.startswith("getApiDocs") or op.operation_id == "getOpenApi":
        answer["tags"] = ["description"]
    if op.description:
        answer["description"] = op.description
    if not answer["parameters"]:
        del answer["parameters"]
    if op.body is not None:
        ref = {"$ref": REF.format(model=op.body.__name__)}
        answer["requestBody"] = {"required": True, "content": {
            media: {"schema": ref} for media in (JSON_BODY, *FORM_BODIES)}}
    for status, (model, text) in sorted(op.responses.items()):
        answer["responses"][str(status)] = _response(op, status, model, text)
    for status, text in sorted({**COMMON_ERRORS, **op.errors}.items()):
        answer["responses"][str(status)] = {
            "description": text,
            "content": {JSON_BODY: {"schema": {"$ref": REF.format(model="Error")}}},
        }
    return answer


def _response(op: Operation, status: int, model: type[BaseModel] | None, text: str) -> dict[str, Any]:
    if model is not None:
        content = {JSON_BODY: {"schema": {"$ref": REF.format(model=model.__name__)}}}
    elif op.media_type == JSON_BODY:
        content = {JSON_BODY: {"schema": {"type": "object"}}}
    else:
        content = {op.media_type: {"schema": {"type": "string"}}}
    response: dict[str, Any] = {"description": text, "content": content}
    if status in op.links:
        response["links"] = op.links[status]
    return response


def _parameters(model: type[BaseModel] | None, where: str) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(ref_template=REF)
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema["properties"].items():
        description = prop.pop("description", None)
        prop.pop("title", None)
        parameter: dict[str, Any] = {"name": name, "in": where, "required": name in required,
                                     "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


@cache
def swagger_ui_dir() -> Path:
    """Swagger UI 5's files, shipped by the flask-swagger-ui package (so the page works offline)."""
    return Path(str(resources.files("flask_swagger_ui") / "dist"))
