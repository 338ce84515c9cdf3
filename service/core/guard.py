"""The request guard: a pure ASGI middleware that checks a request before any route reads its body.

In order, for every HTTP request:

-1. a request that declares both ``Content-Length`` and ``Transfer-Encoding`` is a ``400`` and its
   connection is closed (``Connection: close``): uvicorn's h11 parser frames it by the chunked encoding
   and ignores the length, while a proxy in front might do the opposite, and the bytes one of them takes
   for a body the other takes for a next request (request smuggling). RFC 9112 section 6.1 lets a server
   refuse such a request;
0. without API keys, on a server bound to a loopback address: the ``Host`` header must be a loopback name
   (``localhost``, ``127.x.x.x``, ``[::1]``, with or without a port), else ``403`` (a page whose own domain
   was rebound to 127.0.0.1 gets nothing); and a state-changing request (POST, PUT, PATCH, DELETE) whose
   ``Origin`` is not the server's own, or that the browser marks ``Sec-Fetch-Site: cross-site``, is a
   ``403`` (no cross-site request forgery). Requests without ``Origin`` (curl, scripts) pass;
1. under ``/v1/``, when API keys are configured, the ``Authorization: Bearer`` key must be valid,
   else ``401`` with ``WWW-Authenticate`` (so a caller without a key never gets its body read); a GET of
   a report page with a ``token`` goes on to the route, which checks the token instead;
2. a job submission (``POST /v1/jobs``) while ``LOSSDOCTOR_MAX_QUEUE_DEPTH`` jobs or more wait on the
   queue is a ``503`` with ``Retry-After`` (load shedding), before its body is read or parsed;
3. a declared ``Content-Length`` above the route's limit is a ``413`` at once;
4. a body sent without a length (chunked) is counted while the route reads it, and the read fails with
   a ``413`` as soon as it passes the limit, so no more of it is buffered.

The limit is ``LOSSDOCTOR_MAX_UPLOAD_BYTES`` (plus room for the multipart framing) for data set
uploads, ``LOSSDOCTOR_MAX_MODEL_BYTES`` for model uploads and ``LOSSDOCTOR_MAX_BODY_BYTES`` for
everything else. The routes still authenticate
(``service.api.deps.get_owner``) to learn the caller's tenant; this guard only refuses early.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs

from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.core.config import Settings
from service.core.problems import TYPE_PREFIX, problem_response
from service.core.security import STATE_CHANGING_METHODS, Unauthorized, authenticate, is_loopback_host, same_origin
from service.report.links import TOKEN_PARAM

#: Bytes of multipart framing (boundaries, part headers, the label_column field) allowed on top of
#: ``LOSSDOCTOR_MAX_UPLOAD_BYTES`` for an upload.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
#: Path of the data set upload, whose body limit is the upload limit.
UPLOAD_PATH = "/v1/datasets"
#: Path of the model upload, whose body limit is the model upload limit.
MODEL_UPLOAD_PATH = "/v1/models"
#: Path of a job submission, refused while the queue is past ``LOSSDOCTOR_MAX_QUEUE_DEPTH``.
SUBMIT_PATH = "/v1/jobs"
#: Paths under this prefix need an API key when keys are configured; the rest (health, metrics, docs) do not.
PROTECTED_PREFIX = "/v1/"
#: The report page, which a signed link (``?token=``) opens without a key.
REPORT_PATH = re.compile(r"^/v1/jobs/[^/]+/report$")


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive`` once a body passes its limit; rendered as a 413 problem."""

    def __init__(self, limit: int, setting: str) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes ({setting})")


def body_limit(path: str, settings: Settings) -> tuple[int, str]:
    """The largest body in bytes that ``path`` accepts, and the setting that sets it."""
    if path.rstrip("/") == UPLOAD_PATH:
        return settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES, "LOSSDOCTOR_MAX_UPLOAD_BYTES"
    if path.rstrip("/") == MODEL_UPLOAD_PATH:
        return settings.max_model_bytes + MULTIPART_OVERHEAD_BYTES, "LOSSDOCTOR_MAX_MODEL_BYTES"
    return settings.max_body_bytes, "LOSSDOCTOR_MAX_BODY_BYTES"


def _header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lowercase bytes), decoded as latin-1, or None."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _report_link(scope: Scope) -> bool:
    """Whether the request is a GET of a report page with a ``token`` (checked by the route itself)."""
    if scope.get("method") not in ("GET", "HEAD") or not REPORT_PATH.match(scope["path"]):
        return False
    query = parse_qs(bytes(scope.get("query_string", b"")).decode("latin-1"))
    return bool(query.get(TOKEN_PARAM))


log = logging.getLogger(__name__)


def bound_to_loopback(scope: Scope) -> bool:
    """Whether the server that received the request listens on a loopback address (uvicorn's ``server``)."""
    server = scope.get("server")
    if not server:
        return False
    host = str(server[0])
    return is_loopback_host(f"[{host}]" if ":" in host else host)


def browser_refusal(scope: Scope) -> str | None:
    """Why a keyless loopback server refuses this request as a browser attack (step 0), or None."""
    host = _header(scope, b"host")
    if not is_loopback_host(host):
        return (
            f"the Host {(host or '')[:100]!r} is not a loopback name; without API keys this service answers only "
            "requests for localhost, 127.0.0.1 or [::1] (set LOSSDOCTOR_API_KEYS to serve other names)"
        )
    if scope["method"] not in STATE_CHANGING_METHODS:
        return None
    origin = _header(scope, b"origin")
    cross_site = (_header(scope, b"sec-fetch-site") or "").strip().lower() == "cross-site"
    if (origin is not None and not same_origin(origin, host or "", scope.get("scheme", "http"))) or cross_site:
        return (
            f"a {scope['method']} from another origin ({(origin or 'cross-site')[:100]}) is refused: without API "
            "keys only pages served by this service itself, or clients that send no Origin, may change state"
        )
    return None


async def queue_too_deep(scope: Scope, settings: Settings) -> int | None:
    """The queue depth when it is at or past ``max_queue_depth`` for a job submission, else None.

    Redis not answering is not decided here: the route answers that with its own ``503``.
    """
    if settings.max_queue_depth <= 0 or scope["method"] != "POST" or scope["path"].rstrip("/") != SUBMIT_PATH:
        return None
    app = scope.get("app")
    queue = getattr(getattr(app, "state", None), "queue", None)
    if queue is None:
        return None
    try:
        depth = int(await run_in_threadpool(queue.depth))
    except RedisError:
        return None
    return depth if depth >= settings.max_queue_depth else None


class RequestGuard:
    """API keys and body-size limits, enforced before the application sees the request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if _header(scope, b"transfer-encoding") is not None and _header(scope, b"content-length") is not None:
            response = problem_response(
                400,
                "the request declares both Content-Length and Transfer-Encoding; send one of them "
                "(RFC 9112 section 6.1), so every server on the way reads the body the same way",
                type_=TYPE_PREFIX + "ambiguous-framing",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        if not self.settings.keys_required and bound_to_loopback(scope):
            reason = browser_refusal(scope)
            if reason is not None:
                await problem_response(403, reason, type_=TYPE_PREFIX + "forbidden-origin")(scope, receive, send)
                return
        protected = path.startswith(PROTECTED_PREFIX) or path == PROTECTED_PREFIX.rstrip("/")
        if protected and not _report_link(scope):
            try:
                authenticate(_header(scope, b"authorization"), self.settings.api_keys, self.settings.default_owner)
            except Unauthorized as exc:
                response = problem_response(
                    401, exc.detail, type_=TYPE_PREFIX + "unauthorized", headers={"WWW-Authenticate": exc.challenge}
                )
                await response(scope, receive, send)
                return
        depth = await queue_too_deep(scope, self.settings)
        if depth is not None:
            log.warning("shedding a job submission: %d jobs wait on the queue", depth)
            response = problem_response(
                503,
                f"the service is overloaded: {depth} jobs wait on the queue, the limit is "
                f"{self.settings.max_queue_depth} (LOSSDOCTOR_MAX_QUEUE_DEPTH); retry later",
                type_=TYPE_PREFIX + "overloaded",
                headers={"Retry-After": str(self.settings.queue_full_retry_seconds)},
            )
            await response(scope, receive, send)
            return
        limit, setting = body_limit(path, self.settings)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            response = problem_response(
                413,
                f"the request body has {int(declared)} bytes; the limit is {limit} bytes ({setting})",
                type_=TYPE_PREFIX + "body-too-large",
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, setting)
            return message

        await self.app(scope, counted, send)
