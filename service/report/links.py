"""``report_url``: the link to a job's report page that a browser opens without an Authorization header.

Without API keys the link is the page's plain URL. With keys it carries ``?token=EXPIRES.SIGNATURE``:
``EXPIRES`` is a Unix time in seconds, ``SIGNATURE`` the unpadded URL-safe base64 of
HMAC-SHA256(``LOSSDOCTOR_REPORT_SECRET``, ``"{job_id}.{EXPIRES}"``). Such a token opens that one job's
report until it expires, and nothing else: not the job's JSON, not another job's report.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

from service.core.config import Settings

#: The query parameter that carries a report token.
TOKEN_PARAM = "token"


class TokenRefused(ValueError):
    """A report token that is malformed, expired, or not this job's; the message says which."""


def report_path(job_id: str) -> str:
    """The path of a job's report page."""
    return f"/v1/jobs/{job_id}/report"


def _signature(job_id: str, expires: int, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{job_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def report_token(job_id: str, secret: str, ttl_seconds: int, now: float | None = None) -> str:
    """A token that opens job ``job_id``'s report for ``ttl_seconds`` from ``now`` (Unix s)."""
    expires = int((time.time() if now is None else now) + ttl_seconds)
    return f"{expires}.{_signature(job_id, expires, secret)}"


def check_token(job_id: str, token: str, secret: str, now: float | None = None) -> None:
    """Raise ``TokenRefused`` unless ``token`` was made for ``job_id`` with ``secret`` and has not expired."""
    expires_text, _, signature = token.partition(".")
    if not expires_text.isdigit() or not signature:
        raise TokenRefused("the report link's token is malformed; ask the API for the job again for a fresh link")
    if not hmac.compare_digest(signature, _signature(job_id, int(expires_text), secret)):
        raise TokenRefused("the report link's token is not valid for this job")
    if int(expires_text) < (time.time() if now is None else now):
        raise TokenRefused("the report link has expired; GET the job again for a fresh report_url")


def report_url(job_id: str, settings: Settings, base_url: str) -> str:
    """The job's ``report_url``: ``base_url`` (may be empty: a path) plus the report's path, and a token
    when API keys are on."""
    url = base_url.rstrip("/") + report_path(job_id)
    if settings.keys_required:
        url += f"?{TOKEN_PARAM}={report_token(job_id, settings.report_secret, settings.report_link_seconds)}"
    return url
