"""Locks, the health ping and the counters behind ``/metrics``."""

from __future__ import annotations

from worker.jobs.store.base import (
    DURATION_BUCKETS,
    STATUSES,
    StoreBase,
    text,
)


class Counters(StoreBase):
    """Jobs per status and per diagnosed cause, run-time histograms, named locks and the ping."""

    def ping(self) -> bool:
        """True when Redis answers (raises redis' ConnectionError when it does not)."""
        return bool(self.redis.ping())

    def try_lock(self, name: str, ttl_ms: int) -> bool:
        """Take the named lock for ``ttl_ms`` milliseconds unless another process holds it."""
        return bool(self.redis.set(self._key("lock", name), b"1", nx=True, px=ttl_ms))

    def status_counts(self) -> dict[str, int]:
        """Jobs per status: queued and running are current; the ended ones count all since Redis began."""
        raw = self.redis.hgetall(self._key("stats", "status"))
        counts = {text(k): int(v) for k, v in raw.items()}
        return {status: max(0, counts.get(status, 0)) for status in STATUSES}

    def cause_counts(self) -> dict[str, int]:
        """Succeeded jobs per diagnosed cause (``diagnosed_cause``) since Redis began."""
        raw = self.redis.hgetall(self._key("stats", "cause"))
        return {text(k): int(v) for k, v in raw.items()}

    def duration_histogram(self, status: str | None = None) -> tuple[list[tuple[float, int]], float, int]:
        """Cumulative (upper bound s, count) buckets, the sum of run times (s) and the count of runs; of the
        jobs that ended in ``status``, or of all ended jobs."""
        key = self._key("stats", "duration", status) if status else self._key("stats", "duration")
        raw = {text(k): v for k, v in self.redis.hgetall(key).items()}
        buckets = [(bound, int(raw.get(repr(bound), 0))) for bound in DURATION_BUCKETS]
        return buckets, float(raw.get("sum", 0.0)), int(raw.get("count", 0))
