"""Every error answer is ``application/problem+json`` (RFC 9457).

    Problem                  an error the application raises on purpose (409, 404, 413, 422, 503 …)
    RequestValidationError   FastAPI's: a body that is not valid JSON → 400 saying where it broke; a body,
                             query or header that does not fit its model → 422
    StarletteHTTPException   routing's own 404 and 405 (the ``Allow`` header is kept), and a body that
                             passes its size limit while it is read (``service.core.guard``) → 413
    SpecError                the engine's: a spec that validates field by field but cannot run → 422
    redis ConnectionError,   Redis cannot be reached (restarting, failing over) → 503 with ``Retry-After``,
      TimeoutError           logged as a warning without a traceback
    Exception                anything else → 500, logged with its traceback

Each body has ``type``, ``title``, ``status``, ``detail``; validation errors add ``errors``, a list of
``{loc, msg, type}`` naming each bad field.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from worker.contract.errors import SpecError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
#: Prefix of the ``type`` URI of lossdoctor's own problems.
TYPE_PREFIX = "urn:lossdoctor:problem:"
#: Seconds a client is told to wait (``Retry-After``) when Redis cannot be reached.
REDIS_DOWN_RETRY_SECONDS = 5


class Problem(Exception):
    """An error answer: ``slug`` names its type, ``detail`` tells the person what happened and what to do."""

    def __init__(
        self,
        status: int,
        slug: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.detail = status, slug, detail
        self.errors, self.headers = errors, headers


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response with the standard title for ``status``."""
    body: dict[str, Any] = {
        "type": type_,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=MEDIA_TYPE)


def clean_errors(errors: Any) -> list[dict[str, Any]]:
    """pydantic/FastAPI errors reduced to JSON-safe ``{loc, msg, type}`` (no inputs, no exception objects)."""
    return [
        {
            "loc": [p if isinstance(p, int) else str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "")),
            "type": str(e.get("type", "")),
        }
        for e in errors
    ]


def summarize(errors: list[dict[str, Any]]) -> str:
    """One line naming the bad fields, e.g. ``body.training.lr: Input should be ...``."""
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    noun = "field is" if len(errors) == 1 else "fields are"
    return f"{len(errors)} {noun} invalid: " + "; ".join(parts) + more


async def _problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status, exc.detail, type_=TYPE_PREFIX + exc.slug, errors=exc.errors, headers=exc.headers
    )


def json_error_detail(error: dict[str, Any], document: Any) -> str:
    """Where and why a body failed to parse as JSON: ``line 3, column 14 (character 41): Expecting ','``."""
    loc = error.get("loc", ())
    position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    reason = str((error.get("ctx") or {}).get("error", "not valid JSON"))
    if position is None:
        return f"the body is not valid JSON: {reason}"
    where = f"character {position}"
    if isinstance(document, bytes | str):
        text = document.decode("utf-8", "replace") if isinstance(document, bytes) else document
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        where = f"line {line}, column {column} ({where})"
    return f"the body is not valid JSON: {reason} at {where}"


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    broken = [e for e in exc.errors() if e.get("type") == "json_invalid"]
    if broken:
        detail = json_error_detail(broken[0], exc.body)
        errors = [{"loc": ["body"], "msg": detail, "type": "json_invalid"}]
        return problem_response(400, detail, type_=TYPE_PREFIX + "invalid-json", errors=errors)
    errors = clean_errors(exc.errors())
    return problem_response(422, summarize(errors), type_=TYPE_PREFIX + "validation-error", errors=errors)


async def _spec_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SpecError)
    error = exc.as_error()
    error["loc"] = ["body", *error["loc"]]  # type: ignore[misc]
    return problem_response(422, summarize([error]), type_=TYPE_PREFIX + "spec-not-runnable", errors=[error])


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the app's OpenAPI document lists for ``path`` (plus HEAD where GET is), sorted.

    Routing answers a 405 from the first route whose path matches, so its ``Allow`` names only that
    route's methods even when other routes serve the same path with other methods.
    """
    methods: set[str] = set()
    for template, item in app.openapi().get("paths", {}).items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            methods |= {m.upper() for m in item if m in ("get", "put", "post", "delete", "patch")}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).description
    type_ = "about:blank"
    headers = dict(exc.headers or {})
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"there is no resource at {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
        allowed = allowed_methods(request.app, request.url.path)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    elif exc.status_code == 413:
        type_ = TYPE_PREFIX + "body-too-large"
    return problem_response(exc.status_code, detail, type_=type_, headers=headers)


async def _redis_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("Redis unreachable on %s %s: %s", request.method, request.url.path, exc)
    return problem_response(
        503,
        "the service cannot reach its Redis right now (restarting or failing over); retry shortly",
        type_=TYPE_PREFIX + "redis-unavailable",
        headers={"Retry-After": str(REDIS_DOWN_RETRY_SECONDS)},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "the server failed to handle this request; it has been logged")


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(Problem, _problem)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(SpecError, _spec_error)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(RedisConnectionError, _redis_down)
    app.add_exception_handler(RedisTimeoutError, _redis_down)
    app.add_exception_handler(Exception, _unexpected)
