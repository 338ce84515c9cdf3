"""Dependencies of the routes, as ``Annotated[..., Depends()]`` aliases.

The store and the queue are the API's one I/O seam: ``service.main.create_app`` puts them on
``app.state``; tests put in-memory fakes there instead.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from service.core.config import Settings
from service.core.problems import Problem
from service.core.security import Unauthorized, authenticate
from service.jobs import JobView
from service.queue import JobQueue
from worker.jobs.store import JobStore


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_store(request: Request) -> JobStore:
    """The app's job store."""
    store: JobStore = request.app.state.store
    return store


def get_queue(request: Request) -> JobQueue:
    """The app's queue client."""
    queue: JobQueue = request.app.state.queue
    return queue


#: Reads ``Authorization: Bearer <key>``; never refuses by itself, so the service also runs without keys.
bearer = HTTPBearer(auto_error=False, description="An API key from `lossdoctor keys new TENANT`.")


def get_owner(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The tenant whose jobs and data sets this request sees: the key's tenant, or the default owner when the
    service runs without keys. A missing or unknown key is a 401 problem."""
    try:
        return authenticate(request.headers.get("authorization"), settings.api_keys, settings.default_owner)
    except Unauthorized as exc:
        raise Problem(401, "unauthorized", exc.detail, headers={"WWW-Authenticate": exc.challenge}) from exc


def get_job_view(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> JobView:
    """Job objects with links under this request's base URL."""
    return JobView(settings, str(request.base_url))


def require_json(request: Request) -> None:
    """A 415 problem naming the header unless the request says its body is JSON (``Content-Type:
    application/json`` or ``application/*+json``); for routes whose body is JSON."""
    content_type = request.headers.get("content-type")
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    got = f"Content-Type {content_type[:100]!r}" if content_type else "no Content-Type header"
    raise Problem(
        415,
        "unsupported-media-type",
        f"this route takes a JSON body, but the request has {got}: send the header Content-Type: application/json",
    )


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
OwnerDep = Annotated[str, Depends(get_owner)]
JobViewDep = Annotated[JobView, Depends(get_job_view)]
