"""The webhook outbox: the deliveries due, leased to one sender at a time, retried and forgotten."""

from __future__ import annotations

from redis.exceptions import WatchError

from worker.jobs.store.base import (
    StoreBase,
    text,
)


class WebhookOutbox(StoreBase):
    """Deliveries of ended jobs' webhooks, added by the transaction that ends the job (``transitions``)."""

    def claim_webhooks(self, now: float, lease_seconds: float, limit: int = 20) -> list[tuple[str, int]]:
        """Take up to ``limit`` deliveries due at ``now`` (Unix seconds): each is pushed ``lease_seconds`` into
        the future (so another API process does not send it too, and a crashed sender's is retried) and its
        attempt count raised. Returns (job id, attempt number) pairs."""
        due_key, attempts_key = self._key("webhooks", "due"), self._key("webhooks", "attempts")
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(due_key)
                    members: list[bytes] = pipe.zrangebyscore(  # type: ignore[assignment]
                        due_key, "-inf", now, start=0, num=limit
                    )
                    ids = [text(m) for m in members]
                    if not ids:
                        pipe.unwatch()
                        return []
                    pipe.multi()
                    pipe.zadd(due_key, {job_id: now + lease_seconds for job_id in ids})
                    for job_id in ids:
                        pipe.hincrby(attempts_key, job_id, 1)
                    results = pipe.execute()
                    return [(job_id, int(n)) for job_id, n in zip(ids, results[1:], strict=True)]
                except WatchError:
                    continue

    def retry_webhook(self, job_id: str, at: float) -> None:
        """Make the job's delivery due again at ``at`` (Unix seconds)."""
        self.redis.zadd(self._key("webhooks", "due"), {job_id: at})

    def end_webhook(self, job_id: str) -> None:
        """Forget the job's delivery: it was delivered, or the service gave up on it."""
        with self.redis.pipeline() as pipe:
            pipe.zrem(self._key("webhooks", "due"), job_id)
            pipe.hdel(self._key("webhooks", "attempts"), job_id)
            pipe.execute()
