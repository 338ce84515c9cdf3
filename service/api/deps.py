"""Dependencies of the routes, as ``Annotated[..., Depends()]`` aliases.

The store and the queue are the API's one I/O seam: ``service.main.create_app`` puts them on
``app.state``; tests put in-memory fakes there instead.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.core.config import Settings
from service.queue import JobQueue
from worker.store import JobStore


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


def get_owner(settings: Annotated[Settings, Depends(get_settings)]) -> str:
    """Whose jobs and data sets a request sees. One owner for now; API keys will map to owners."""
    return settings.default_owner


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[JobStore, Depends(get_store)]
QueueDep = Annotated[JobQueue, Depends(get_queue)]
OwnerDep = Annotated[str, Depends(get_owner)]
