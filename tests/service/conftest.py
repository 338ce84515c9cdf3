"""The app over the in-memory store and queue: most service tests need no Redis and no worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from run_fakes import MemoryRunStore
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
def run_store() -> MemoryRunStore:
    return MemoryRunStore()


@pytest.fixture
def client(
    settings: Settings, store: MemoryJobStore, queue: MemoryJobQueue, run_store: MemoryRunStore
) -> Iterator[TestClient]:
    app = create_app(settings, store=store, queue=queue, run_store=run_store)  # type: ignore[arg-type]
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
