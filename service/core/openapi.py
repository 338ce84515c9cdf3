"""The OpenAPI document, with every problem+json answer the API can give.

FastAPI documents only the success answer and a JSON ``422`` shaped like its own validation error. This
module describes the answers as they really are: ``application/problem+json`` with the ``Problem``
schema. Answers that any operation of a kind can give are added here; answers that belong to one route
(``404`` of an unknown job, ``409``, ``429``, ``503``) are declared on the route with
:func:`problem_responses`.

    every operation                   500, 403 (a keyless loopback server: a foreign Host or a cross-origin change)
    under /v1/                        401 (with WWW-Authenticate), 503 (Redis unreachable, with Retry-After)
    with a request body               400 (a body that cannot be decoded), 413, 422
    with a JSON request body          415 (a Content-Type that is not JSON)
    with parameters                   422
    with a path parameter             404
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.core.problems import MEDIA_TYPE

#: JSON Schema of a problem+json body (RFC 9457), as ``service.core.problems`` writes it.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "URI naming the kind of problem"},
        "title": {"type": "string", "description": "the HTTP status phrase"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "what happened and what to do about it"},
        "errors": {
            "type": "array",
            "description": "for a bad request: each bad field",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
#: Headers that come with some problems.
CHALLENGE_HEADER = {
    "WWW-Authenticate": {"description": "the Bearer challenge (RFC 6750)", "schema": {"type": "string"}}
}
RETRY_HEADER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "string"}}}
#: The keys of an OpenAPI path item that are operations.
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def problem_response(status: int, description: str | None = None) -> dict[str, Any]:
    """The OpenAPI response object of a problem+json answer with ``status``."""
    response: dict[str, Any] = {
        "description": description or HTTPStatus(status).phrase,
        "content": {MEDIA_TYPE: {"schema": PROBLEM_REF}},
    }
    if status == 401:
        response["headers"] = CHALLENGE_HEADER
    elif status in (429, 503):
        response["headers"] = RETRY_HEADER
    return response


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route decorator: problem+json answers with these statuses."""
    return {status: problem_response(status) for status in statuses}


def _add_common(path: str, operation: dict[str, Any]) -> None:
    """Add the answers every operation of its kind can give (see the module docstring)."""
    responses: dict[str, Any] = operation.setdefault("responses", {})
    params = operation.get("parameters", [])
    statuses = [500, 403]
    if path.startswith("/v1/"):
        statuses += [401, 503]
    if "requestBody" in operation:
        statuses += [400, 413, 422]
        if "application/json" in operation["requestBody"].get("content", {}):
            statuses.append(415)
    if params:
        statuses.append(422)
    if any(p.get("in") == "path" for p in params):
        statuses.append(404)
    for status in statuses:
        key = str(status)
        if key == "422" or key not in responses:
            responses[key] = problem_response(status, responses.get(key, {}).get("description"))


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with its problem answers (computed once, then cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                _add_common(path, operation)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    schemas["Problem"] = PROBLEM_SCHEMA
    app.openapi_schema = schema
    return schema


def install(app: FastAPI) -> None:
    """Serve :func:`build_openapi` at ``/openapi.json`` (and in ``/docs``)."""
    app.openapi = lambda: build_openapi(app)  # type: ignore[method-assign]
