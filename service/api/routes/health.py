"""``/healthz`` (the process answers) and ``/readyz`` (Redis answers and a worker is alive)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from redis.exceptions import RedisError

from service.api.deps import QueueDep, SettingsDep, StoreDep
from service.core.openapi import problem_responses
from service.core.problems import Problem

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="Liveness")
def healthz() -> dict[str, str]:
    """Always ``{"status": "ok"}`` while the process serves requests."""
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness", responses=problem_responses(503))
def readyz(store: StoreDep, queue: QueueDep, settings: SettingsDep) -> dict[str, Any]:
    """``200`` when Redis answers and a worker sent a heartbeat recently; else a ``503`` problem."""
    try:
        store.ping()
        workers = [w for w in queue.workers() if w.heartbeat_age <= settings.worker_dead_after_seconds]
    except RedisError as exc:
        raise Problem(503, "not-ready", f"Redis at the configured LOSSDOCTOR_REDIS_URL does not answer: {exc}") from exc
    if not workers:
        raise Problem(
            503,
            "not-ready",
            f"no worker is alive on queue {settings.queue!r}: start one with `lossdoctor worker`",
        )
    return {"status": "ready", "redis": True, "workers": len(workers), "queue_depth": queue.depth()}
