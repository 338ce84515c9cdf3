"""Webhooks: a POST to the spec's ``webhook.url`` once the job has ended, signed the Standard Webhooks way.

    check_url        at submission: an http(s) URL whose host resolves only to public addresses
                     (unless ``LOSSDOCTOR_WEBHOOK_ALLOW_PRIVATE``), else a 422 naming ``webhook.url``
    delivery         ``{"type": "job.<status>", "timestamp": <finished_at>, "data": <the job>}`` with the
                     headers ``webhook-id`` (the same for every attempt), ``webhook-timestamp`` (Unix s of
                     the attempt) and ``webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``
    WebhookDispatcher  takes the deliveries that are due from the store's outbox (the store adds a job
                     there in the same transaction that ends it), sends each, and on a failure (no 2xx
                     answer in time) makes it due again after 5, 10, 20, … s until the attempts run out.
                     Every attempt is appended to the job's events (``webhook_attempt``).

It runs in the API process (``run_forever`` in the app's lifespan), never in the work horse, so a slow
receiver never holds up a job. Several API processes may run it: a claim leases a delivery to one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from standardwebhooks import Webhook
from starlette.concurrency import run_in_threadpool

from service.core.config import Settings
from service.core.problems import Problem
from worker.jobs.store import JobStore, Record, dumps, now_iso

log = logging.getLogger(__name__)

#: Longest wait between two attempts, in seconds, however many there were.
MAX_RETRY_WAIT_SECONDS = 3600.0
#: Seconds a claimed delivery stays with its sender before another API process may take it (a crash).
CLAIM_LEASE_SECONDS = 120.0
#: Deliveries one round of the loop takes at most.
DELIVERIES_PER_ROUND = 20
#: Characters of a receiver's answer or error kept in the attempt's event.
ERROR_CHARS = 300
#: The ``User-Agent`` of deliveries.
USER_AGENT = "lossdoctor-webhooks/1"

Presenter = Callable[[Record], dict[str, Any]]


class UrlRefused(ValueError):
    """A webhook URL whose host the service will not call; the message says why."""


def _refused_address(address: str) -> bool:
    """Whether ``address`` is not a public unicast address (loopback, private, link-local, reserved, …)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_host(url: str, allow_private: bool) -> None:
    """Raise ``UrlRefused`` unless ``url``'s host resolves, and only to public addresses (or private ones are
    allowed)."""
    if allow_private:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused(f"webhook.url host {host!r} does not resolve ({exc})") from None
    refused = sorted({str(info[4][0]) for info in infos if _refused_address(str(info[4][0]))})
    if refused:
        raise UrlRefused(
            f"webhook.url host {host!r} resolves to {', '.join(refused)}, a loopback or private address; "
            "the service only calls public addresses (LOSSDOCTOR_WEBHOOK_ALLOW_PRIVATE=true allows them)"
        )


def check_webhook(url: str, settings: Settings) -> None:
    """The submission check of a spec's ``webhook.url``: a 422 problem naming the field when it is refused,
    or when the service has no signing secret."""
    loc = ["body", "webhook", "url"]
    if not settings.webhook_secret:
        message = "this service sends no webhooks: it has no LOSSDOCTOR_WEBHOOK_SECRET to sign them with"
        error = {"loc": loc, "msg": message, "type": "value_error"}
        raise Problem(422, "webhooks-not-configured", message, errors=[error])
    try:
        check_host(url, settings.webhook_allow_private)
    except UrlRefused as exc:
        error = {"loc": loc, "msg": str(exc), "type": "value_error"}
        raise Problem(422, "webhook-url-refused", str(exc), errors=[error]) from None


def payload(record: Record, present: Presenter) -> dict[str, Any]:
    """The delivery body of an ended job: its type, when it ended, and the job as the API shows it."""
    return {"type": f"job.{record['status']}", "timestamp": record["finished_at"], "data": present(record)}


def signed_headers(secret: str, message_id: str, body: str, at: float) -> dict[str, str]:
    """The Standard Webhooks headers of ``body`` sent at ``at`` (Unix s) under ``message_id``."""
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(at, UTC), body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at)),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def retry_wait(attempt: int, first_wait: float) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based): ``first_wait``, doubling, capped."""
    return float(min(first_wait * 2 ** (attempt - 1), MAX_RETRY_WAIT_SECONDS))


class WebhookDispatcher:
    """Sends the deliveries that are due; see the module docstring."""

    def __init__(
        self,
        store: JobStore,
        settings: Settings,
        present: Presenter,
        client: httpx.Client | None = None,
    ) -> None:
        self.store, self.settings, self.present = store, settings, present
        # Redirects are not followed: a receiver could point them at an address the URL check refused.
        self.client = client or httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False)

    def dispatch_due(self) -> int:
        """Send every delivery due now; returns how many attempts were made."""
        now = time.time()
        claimed = self.store.claim_webhooks(now, CLAIM_LEASE_SECONDS, DELIVERIES_PER_ROUND)
        for job_id, attempt in claimed:
            self._attempt(job_id, attempt)
        return len(claimed)

    def _attempt(self, job_id: str, attempt: int) -> None:
        record = self.store.get_job(job_id)
        webhook = ((record or {}).get("spec") or {}).get("webhook")
        if record is None or not webhook or not self.settings.webhook_secret:
            self.store.end_webhook(job_id)  # the job expired, or the service can no longer sign
            return
        url = str(webhook["url"])
        status_code, error = self._send(url, record)
        delivered = status_code is not None and 200 <= status_code < 300
        event: dict[str, Any] = {
            "type": "webhook_attempt",
            "at": now_iso(),
            "attempt": attempt,
            "url": url,
            "status_code": status_code,
            "delivered": delivered,
        }
        if error is not None:
            event["error"] = error
        if delivered or attempt >= self.settings.webhook_max_attempts:
            self.store.end_webhook(job_id)
            if not delivered:
                event["gave_up"] = True
                log.warning("webhook of job %s not delivered after %d attempts: %s", job_id, attempt, error)
        else:
            wait = retry_wait(attempt, self.settings.webhook_retry_seconds)
            self.store.retry_webhook(job_id, time.time() + wait)
            event["next_attempt_in_seconds"] = round(wait, 3)
        self.store.append_event(job_id, event)

    def _send(self, url: str, record: Record) -> tuple[int | None, str | None]:
        """POST the signed delivery; the answer's status (None when there was none) and what went wrong."""
        try:
            check_host(url, self.settings.webhook_allow_private)  # again: DNS may have changed since submission
        except UrlRefused as exc:
            return None, str(exc)[:ERROR_CHARS]
        body = dumps(payload(record, self.present))
        headers = signed_headers(self.settings.webhook_secret, f"msg_{record['id']}", body, time.time())
        try:
            response = self.client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"[:ERROR_CHARS]
        if 200 <= response.status_code < 300:
            return response.status_code, None
        return response.status_code, f"the receiver answered {response.status_code}: {response.text[:ERROR_CHARS]}"

    def close(self) -> None:
        """Close the HTTP client."""
        self.client.close()


async def run_forever(dispatcher: WebhookDispatcher, interval: float) -> None:
    """Send due deliveries every ``interval`` seconds until cancelled; a failed round is logged."""
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                await run_in_threadpool(dispatcher.dispatch_due)
            except Exception:
                log.exception("webhook round failed")
    finally:
        dispatcher.close()
