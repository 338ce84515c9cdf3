"""Security headers on every answer: a pure ASGI middleware that adds them as the response starts.

Content-Security-Policy      the report page: nothing loaded from anywhere (its CSS and SVG are
                             inline, it has no scripts); JSON and problems: nothing at all. The
                             OpenAPI pages (/docs, /redoc) load FastAPI's Swagger UI from a CDN and
                             get no policy.
X-Content-Type-Options       nosniff: a browser never reads JSON or text as HTML or script
X-Frame-Options              DENY (and frame-ancestors 'none' in the policy): no framing, no clickjacking
Referrer-Policy              no-referrer: job ids in URLs do not leak to other sites
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: The report page's policy: inline styles only (the <style> block and SVG attributes), images only as
#: data: URIs, no scripts, forms, frames or base URL of its own.
HTML_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: Every other answer's policy: a JSON or text document loads nothing.
DEFAULT_POLICY = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#: Pages that load Swagger UI or ReDoc from their CDN, with inline scripts.
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})
#: Headers every answer carries.
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


class SecurityHeaders:
    """Add ``COMMON_HEADERS`` and a Content-Security-Policy to each HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        docs = scope["path"] in DOCS_PATHS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
                if not docs:
                    html = headers.get("content-type", "").startswith("text/html")
                    headers.setdefault("Content-Security-Policy", HTML_POLICY if html else DEFAULT_POLICY)
            await send(message)

        await self.app(scope, receive, send_with_headers)
