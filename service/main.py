"""The FastAPI application: ``uvicorn service.main:app`` or ``lossdoctor api``.

``create_app`` wires settings, the job store and the queue client (the one I/O seam; tests may pass
fakes), the problem+json handlers, the routes, the metrics registry, and in its lifespan the sweeper
that keeps jobs of lost workers from staying ``running`` and the loop that delivers webhooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from redis import Redis

from service import webhooks
from service.api.main import api_router
from service.core import openapi, problems
from service.core.config import Settings, get_settings
from service.core.guard import RequestGuard
from service.core.headers import SecurityHeaders
from service.jobs import JobView
from service.metrics import RequestMetrics, build_http_histogram, build_registry
from service.queue import JobQueue
from service.sweeper import Sweeper, run_forever
from service.webhooks import WebhookDispatcher
from worker.jobs.run_store import RunStore
from worker.jobs.store import JobStore

log = logging.getLogger(__name__)

DESCRIPTION = (
    "Tells ML teams why a training run's loss does not decrease, by running short instrumented probe "
    "trainings on a worker queue and serving a diagnosis. Errors are application/problem+json."
)

#: Where the Swagger UI and ReDoc assets of ``/docs`` and ``/redoc`` are served.
DOCS_ASSETS_URL = "/docs-assets"


def create_app(
    settings: Settings | None = None,
    *,
    store: JobStore | None = None,
    queue: JobQueue | None = None,
    run_store: RunStore | None = None,
) -> FastAPI:
    """The app; ``store``/``queue``/``run_store`` default to Redis at ``settings.redis_url``."""
    settings = settings or get_settings()
    if store is None or queue is None or run_store is None:
        redis = Redis.from_url(settings.redis_url)
        store = store or JobStore(redis)
        queue = queue or JobQueue(redis, settings.queue)
        run_store = run_store or RunStore(redis)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tasks = []
        if settings.sweeper:
            sweeper = Sweeper(app.state.store, app.state.queue, settings)
            tasks.append(asyncio.create_task(run_forever(sweeper, settings.sweep_interval_seconds)))
        if settings.webhooks:
            dispatcher = WebhookDispatcher(app.state.store, settings, present=JobView(settings, settings.public_url))
            tasks.append(asyncio.create_task(webhooks.run_forever(dispatcher, settings.webhook_poll_seconds)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # /docs and /redoc load Swagger UI and ReDoc from the assets fastapi-offline ships, never from a CDN,
    # so they render on a machine without internet.
    app = FastAPIOffline(
        title="lossdoctor",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_ASSETS_URL,
        swagger_ui_parameters={"validatorUrl": None},  # Swagger UI's badge would call validator.swagger.io
        # operationIds are the route functions' names (create_job, get_job, …): stable, and what a
        # generated client calls its methods
        generate_unique_id_function=lambda route: route.name,
    )
    app.state.settings, app.state.store, app.state.queue = settings, store, queue
    app.state.run_store = run_store
    app.state.metrics_registry = build_registry(store, queue, settings.worker_dead_after_seconds)
    problems.install(app)
    app.include_router(api_router)
    app.add_middleware(RequestGuard, settings=settings)
    app.add_middleware(SecurityHeaders)  # the guard's own refusals get the headers too
    # outermost: every request is timed, the guard's refusals included
    app.add_middleware(RequestMetrics, histogram=build_http_histogram(app.state.metrics_registry))
    openapi.install(app)
    return app


#: The app for ``uvicorn service.main:app``; Redis is only contacted on the first request.
app = create_app()
