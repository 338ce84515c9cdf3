"""The app over the in-memory store and queue: most service tests need no Redis and no worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from service_fakes import MemoryJobQueue, MemoryJobStore

from service.core.config import Settings
from service.main import create_app


@pytest.fixture
def store() -> MemoryJobStore:
    return MemoryJobStore()


@pytest.fixture
def queue() -> MemoryJobQueue:
    return MemoryJobQueue()


@pytest.fixture
def settings() -> Settings:
    return Settings(sweeper=False, job_timeout_margin_seconds=30, max_upload_bytes=100_000)


@pytest.fixture
def client(settings: Settings, store: MemoryJobStore, queue: MemoryJobQueue) -> Iterator[TestClient]:
    app = create_app(settings, store=store, queue=queue)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
