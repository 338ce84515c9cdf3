"""Prometheus metrics gathered from Redis at scrape time, so every API replica reports the same numbers
whichever process (API or worker) changed a job.

    lossdoctor_jobs{status}              jobs per status (queued/running now; ended ones since Redis began)
    lossdoctor_job_duration_seconds      histogram of job run times, started → ended
    lossdoctor_queue_depth               jobs waiting on the queue
    lossdoctor_workers_alive             workers with a recent heartbeat
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from service.queue import JobQueue
from worker.store import JobStore


class StoreCollector(Collector):
    """Reads the store's counters and the queue's state on each collect."""

    def __init__(self, store: JobStore, queue: JobQueue, worker_dead_after_seconds: float) -> None:
        self.store, self.queue, self.dead_after = store, queue, worker_dead_after_seconds

    def collect(self) -> Iterator[Metric]:
        """The metric families, fresh from Redis."""
        jobs = GaugeMetricFamily(
            "lossdoctor_jobs", "Jobs per status (ended ones: since Redis began).", labels=["status"]
        )
        for status, count in self.store.status_counts().items():
            jobs.add_metric([status], count)
        yield jobs
        buckets, total, count = self.store.duration_histogram()
        yield HistogramMetricFamily(
            "lossdoctor_job_duration_seconds",
            "Run time of ended jobs, from start to end, in seconds.",
            buckets=[(repr(bound), n) for bound, n in buckets] + [("+Inf", count)],
            sum_value=total,
        )
        yield GaugeMetricFamily("lossdoctor_queue_depth", "Jobs waiting on the queue.", value=self.queue.depth())
        alive = sum(1 for w in self.queue.workers() if w.heartbeat_age <= self.dead_after)
        yield GaugeMetricFamily("lossdoctor_workers_alive", "Workers with a recent heartbeat.", value=alive)


def build_registry(store: JobStore, queue: JobQueue, worker_dead_after_seconds: float) -> CollectorRegistry:
    """A registry of its own per app (not the process-global one), holding the store collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(store, queue, worker_dead_after_seconds))
    return registry
