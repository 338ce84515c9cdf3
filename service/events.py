"""A job's events as a page (``after``/``limit``) or as a Server-Sent Events stream.

A cursor is an event's ``seq`` (1, 2, …; ``0`` is before the first): ``after=SEQ`` returns the events
with a higher ``seq``. The stream sends each event as one SSE message whose ``id`` is its ``seq`` and
whose ``data`` is the event as JSON, so a client that reconnects with ``Last-Event-ID`` gets only what it
missed. It closes once the job has ended (succeeded, failed, cancelled) and every event stored up to
then is sent; a job whose record expired closes it too.
"""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator

import anyio
from anyio import to_thread
from sse_starlette import EventSourceResponse, ServerSentEvent

from service.core.problems import Problem
from worker.jobs.store import TERMINAL, JobStore

#: The media type a client names in ``Accept`` to get the stream.
EVENT_STREAM = "text/event-stream"
#: Seconds between two looks at Redis for new events while a stream is open.
STREAM_POLL_SECONDS = 0.5
#: Seconds between keep-alive comments on an open stream (proxies drop silent connections).
STREAM_PING_SECONDS = 15
#: Seconds one write to a stream's client may take before the stream is dropped (a stalled reader).
STREAM_SEND_TIMEOUT_SECONDS = 30.0
#: Milliseconds a client's EventSource waits before reconnecting after a dropped connection.
STREAM_RETRY_MS = 2000
#: Most events in one page of ``GET /v1/jobs/{id}/events``.
MAX_EVENTS_PAGE = 1000


def parse_cursor(value: str | None, name: str, latest: int) -> int:
    """The ``seq`` a client passed as ``name`` (``after`` or ``Last-Event-ID``); 0 when absent.

    Anything but a whole number from 0 to ``latest`` (the job's newest ``seq``) is a 400 problem: it
    cannot have come from this job's events.
    """
    if value is None or value.strip() == "":
        return 0
    text = value.strip()
    if not text.isdigit() or int(text) > latest:
        raise Problem(
            400,
            "invalid-cursor",
            f"{name} {value[:40]!r} is not a seq of this job's events: use a whole number from 0 to {latest} "
            "(the seq of the last event you have)",
        )
    return int(text)


def wants_stream(accept: str | None) -> bool:
    """Whether an ``Accept`` header asks for ``text/event-stream``."""
    if not accept:
        return False
    return any(part.split(";")[0].strip().lower() == EVENT_STREAM for part in accept.split(","))


async def _messages(store: JobStore, job_id: str, after: int, poll_seconds: float) -> AsyncIterator[ServerSentEvent]:
    """The job's events after ``after`` as SSE messages, until the job has ended and all are sent."""
    sent = after
    first = True
    while True:
        # The record is read before the events: a terminal status and its event are written in one
        # transaction, so once the record says ended, the events read next hold the last one.
        record = await to_thread.run_sync(store.get_job, job_id)
        events = await to_thread.run_sync(functools.partial(store.events, job_id, after=sent))
        for event in events:
            yield ServerSentEvent(
                data=json.dumps(event, allow_nan=False),
                id=str(event["seq"]),
                retry=STREAM_RETRY_MS if first else None,
            )
            first = False
            sent = event["seq"]
        if record is None or record["status"] in TERMINAL:
            return
        await anyio.sleep(poll_seconds)


def event_stream(
    store: JobStore, job_id: str, after: int, *, poll_seconds: float = STREAM_POLL_SECONDS
) -> EventSourceResponse:
    """The SSE response streaming job ``job_id``'s events after ``after``."""
    return EventSourceResponse(
        _messages(store, job_id, after, poll_seconds),
        ping=STREAM_PING_SECONDS,
        send_timeout=STREAM_SEND_TIMEOUT_SECONDS,
    )
