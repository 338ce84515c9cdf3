"""Prometheus metrics.

The job metrics are read from Redis at scrape time, from counters the job store moves in the same
transaction that changes a job (``worker.jobs.store``), so every API replica reports the same numbers whichever
process (an API, a worker, the sweeper) submitted or ended a job. Scraping several replicas gives the same
job series from each: aggregate them with ``max``, not ``sum``.

    lossdoctor_jobs_submitted_total                  jobs ever submitted (each job once, requeues not counted)
    lossdoctor_jobs_ended_total{status}              jobs ended succeeded / failed / cancelled
    lossdoctor_jobs_diagnosed_total{cause}           succeeded jobs by diagnosis: the primary cause, or
                                                     ``healthy`` or ``inconclusive``
    lossdoctor_jobs{status}                          jobs per status (queued/running now; ended ones since Redis began)
    lossdoctor_job_duration_seconds{status}          histogram of job run times, started → ended, by how it ended
    lossdoctor_queue_depth                           jobs waiting on the queue
    lossdoctor_workers_alive                         workers with a recent heartbeat

The HTTP metric is this process's own (each replica counts the requests it served; ``sum`` them):

    lossdoctor_http_request_duration_seconds{method,route,status}   request durations in seconds, by route
                                                                    template (``/v1/jobs/{job_id}``), until
                                                                    the last byte of the answer (an SSE stream:
                                                                    until it closes)

The counters live as long as Redis' data: a flushed Redis starts them again from 0, which Prometheus'
``rate`` reads as a counter reset.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator

from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.queue import JobQueue
from worker.jobs.store import STATUSES, TERMINAL, JobStore

#: Upper bounds, in seconds, of the HTTP request duration buckets.
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: The ``route`` label of a request that matched no route (a 404): one series, whatever the path.
UNMATCHED_ROUTE = "<unmatched>"


class StoreCollector(Collector):
    """Reads the store's counters and the queue's state on each collect."""

    def __init__(self, store: JobStore, queue: JobQueue, worker_dead_after_seconds: float) -> None:
        self.store, self.queue, self.dead_after = store, queue, worker_dead_after_seconds

    def collect(self) -> Iterator[Metric]:
        """The metric families, fresh from Redis."""
        counts = self.store.status_counts()
        # each job adds 1 to "queued" when created and every change after moves that 1 between statuses,
        # so the sum over statuses is the number of jobs ever submitted
        yield CounterMetricFamily(
            "lossdoctor_jobs_submitted", "Jobs submitted (each once; requeues not counted).", value=sum(counts.values())
        )
        ended = CounterMetricFamily("lossdoctor_jobs_ended", "Jobs ended, by final status.", labels=["status"])
        for status in STATUSES:
            if status in TERMINAL:
                ended.add_metric([status], counts[status])
        yield ended
        diagnosed = CounterMetricFamily(
            "lossdoctor_jobs_diagnosed",
            "Succeeded jobs by diagnosis: the primary cause, or healthy or inconclusive.",
            labels=["cause"],
        )
        for cause, count in sorted(self.store.cause_counts().items()):
            diagnosed.add_metric([cause], count)
        yield diagnosed
        jobs = GaugeMetricFamily(
            "lossdoctor_jobs", "Jobs per status (ended ones: since Redis began).", labels=["status"]
        )
        for status, count in counts.items():
            jobs.add_metric([status], count)
        yield jobs
        durations = HistogramMetricFamily(
            "lossdoctor_job_duration_seconds",
            "Run time of ended jobs, from start to end, in seconds, by final status.",
            labels=["status"],
        )
        for status in sorted(TERMINAL):
            buckets, total, count = self.store.duration_histogram(status)
            durations.add_metric(
                [status], buckets=[(repr(bound), n) for bound, n in buckets] + [("+Inf", count)], sum_value=total
            )
        yield durations
        yield GaugeMetricFamily("lossdoctor_queue_depth", "Jobs waiting on the queue.", value=self.queue.depth())
        alive = sum(1 for w in self.queue.workers() if w.heartbeat_age <= self.dead_after)
        yield GaugeMetricFamily("lossdoctor_workers_alive", "Workers with a recent heartbeat.", value=alive)


def build_registry(store: JobStore, queue: JobQueue, worker_dead_after_seconds: float) -> CollectorRegistry:
    """A registry of its own per app (not the process-global one), holding the store collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, queue, worker_dead_after_seconds))
    return registry


def build_http_histogram(registry: CollectorRegistry) -> Histogram:
    """The HTTP request duration histogram, registered in the app's ``registry``."""
    return Histogram(
        "lossdoctor_http_request_duration_seconds",
        "Duration of HTTP requests in seconds, until the answer's last byte, by method, route template and status.",
        labelnames=["method", "route", "status"],
        buckets=HTTP_BUCKETS,
        registry=registry,
    )


def _templates(app: object) -> list[tuple[re.Pattern[str], str]]:
    """(regex, template) for every path of ``app``'s OpenAPI document and its plain routes, longest first."""
    cached = getattr(app, "_lossdoctor_route_templates", None)
    if cached is not None:
        return list(cached)
    paths: set[str] = set()
    openapi = getattr(app, "openapi", None)
    if callable(openapi):
        paths |= set((openapi() or {}).get("paths", {}))
    for route in getattr(getattr(app, "router", None), "routes", ()):
        if isinstance(getattr(route, "path", None), str):
            paths.add(route.path)
    compiled = [
        (re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$"), path)
        for path in sorted(paths, key=len, reverse=True)
    ]
    with contextlib.suppress(AttributeError):
        app._lossdoctor_route_templates = compiled  # type: ignore[attr-defined]
    return compiled


def route_template(scope: Scope) -> str:
    """The path template of the route that serves ``scope`` (``/v1/jobs/{job_id}``), else ``UNMATCHED_ROUTE``.

    The router leaves the route it picked in the scope; a request refused before routing (a 401, 413 or 503
    from the guard) is matched here against the app's path templates, so it is counted under its route too."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    asked = scope.get("path", "")
    for pattern, template in _templates(scope.get("app")):
        if pattern.match(asked):
            return template
    return UNMATCHED_ROUTE


class RequestMetrics:
    """A pure ASGI middleware that observes each HTTP request's duration in ``histogram``."""

    def __init__(self, app: ASGIApp, histogram: Histogram) -> None:
        self.app, self.histogram = app, histogram

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request from its start to the answer's last byte (or the app's return)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            labels = (scope.get("method", ""), route_template(scope), str(status))
            self.histogram.labels(*labels).observe(time.perf_counter() - started)
