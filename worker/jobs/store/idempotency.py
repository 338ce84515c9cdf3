"""Idempotency-Key bindings: a key names one job for its owner for a while."""

from __future__ import annotations

import json

from worker.jobs.store.base import (
    StoreBase,
    dumps,
)


class IdempotencyKeys(StoreBase):
    """Each key bound to a body hash and a job id, for ``ttl_seconds``."""

    def claim_idempotency_key(
        self, owner: str, key: str, body_hash: str, job_id: str, ttl_seconds: int
    ) -> dict[str, str] | None:
        """Bind ``key`` to (``body_hash``, ``job_id``) unless bound already; returns the earlier binding."""
        redis_key = self._key("idem", owner, key)
        value = dumps({"body_hash": body_hash, "job_id": job_id})
        if self.redis.set(redis_key, value, nx=True, ex=ttl_seconds):
            return None
        raw = self.redis.get(redis_key)
        return json.loads(raw) if raw is not None else None

    def release_idempotency_key(self, owner: str, key: str, job_id: str) -> None:
        """Unbind ``key`` if it is still bound to ``job_id`` (its job was refused, so a retry may create it)."""
        redis_key = self._key("idem", owner, key)
        raw = self.redis.get(redis_key)
        if raw is not None and json.loads(raw).get("job_id") == job_id:
            self.redis.delete(redis_key)
