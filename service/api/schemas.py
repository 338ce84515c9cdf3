"""Typed shapes of answers, so ``/openapi.json`` describes them (the routes still build plain dicts)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Event(BaseModel):
    """One thing that happened to a job. Fields beside ``seq``, ``type`` and ``at`` depend on the type:
    ``status`` for a state change, ``error`` for a failure, ``done``/``total`` for progress, ``attempt``,
    ``status_code`` and ``delivered`` for a webhook delivery."""

    model_config = ConfigDict(extra="allow")

    seq: int = Field(description="1-based position in the job's events; the cursor for `after`")
    type: str = Field(description="queued, started, probe_started, probe_finished, succeeded, webhook_attempt, …")
    at: str = Field(description="UTC time, ISO 8601 with milliseconds")


class EventsPage(BaseModel):
    """A page of a job's events, oldest first."""

    job_id: str
    events: list[Event]
    next_after: int | None = Field(
        description="the `after` of the next page while more events are stored; null when this page is the last"
    )
