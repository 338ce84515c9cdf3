"""Monitored runs in Redis: what ``lossdoctor.Monitor`` streams to ``/v1/runs``. Torch-free, framework-free.

Keys, under the job store's prefix ``lossdoctor``::

    run:<id>              JSON record: id, owner, name, setup (``MonitorSetup``), steps_received, last_step,
                          created_at, updated_at; expires ``ttl`` seconds after its last telemetry
    run:<id>:steps        list of JSON step records (``StepRecord``), in step order; expires with the record
    idem:run:<owner>:<k>  the run an ``Idempotency-Key`` created

Runs belong to an ``owner`` like jobs do: a read with another owner finds nothing. An append is one
optimistic transaction (WATCH/MULTI) that keeps only steps later than the run's ``last_step``, so a
retried chunk is never stored twice and two writers cannot interleave.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from redis import Redis
from redis.exceptions import WatchError

from worker.jobs.store import KEY_PREFIX, dumps, now_iso, text

#: Most step records one run keeps (at the monitor's default ``every=10``: 500,000 training steps).
MAX_RUN_STEPS = 50_000
#: Most step records one telemetry request may carry.
MAX_CHUNK_STEPS = 1_000

Record = dict[str, Any]


class RunFull(Exception):
    """The run already holds ``limit`` step records; nothing was stored."""

    def __init__(self, run_id: str, count: int, limit: int) -> None:
        super().__init__(f"run {run_id} holds {count} step records; the limit is {limit}")
        self.run_id, self.count, self.limit = run_id, count, limit


def new_run_id() -> str:
    """A fresh run id: ``run_`` and 24 hex digits."""
    return "run_" + uuid.uuid4().hex[:24]


class RunStore:
    """Run records and their step records in Redis (``decode_responses=False``, as the job store's)."""

    def __init__(self, redis: Redis, prefix: str = KEY_PREFIX) -> None:
        self.redis, self.prefix = redis, prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def create(
        self,
        owner: str,
        setup: dict[str, Any],
        *,
        name: str | None,
        ttl_seconds: int,
        idempotency_key: str | None = None,
    ) -> tuple[Record, bool]:
        """A new run (or the one ``idempotency_key`` already created); returns it and whether it is new."""
        run_id = new_run_id()
        if idempotency_key is not None:
            idem = self._key("idem", "run", owner, idempotency_key)
            if not self.redis.set(idem, run_id.encode(), nx=True, ex=ttl_seconds):
                earlier = self.redis.get(idem)
                found = self.get(text(earlier), owner) if earlier else None
                if found is not None:
                    return found, False
                self.redis.set(idem, run_id.encode(), ex=ttl_seconds)  # its run expired: the key is free again
        now = now_iso()
        record: Record = {
            "id": run_id,
            "owner": owner,
            "name": name,
            "setup": setup,
            "steps_received": 0,
            "last_step": None,
            "created_at": now,
            "updated_at": now,
        }
        self.redis.set(self._key("run", run_id), dumps(record), ex=ttl_seconds)
        return record, True

    def get(self, run_id: str, owner: str | None = None) -> Record | None:
        """The run, or None (absent, expired, or another owner's)."""
        raw = self.redis.get(self._key("run", run_id))
        record: Record | None = json.loads(raw) if raw is not None else None
        if record is None or (owner is not None and record.get("owner") != owner):
            return None
        return record

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        """The run's step records, in step order."""
        return [json.loads(item) for item in self.redis.lrange(self._key("run", run_id, "steps"), 0, -1)]

    def append(
        self, run_id: str, owner: str, steps: list[dict[str, Any]], *, ttl_seconds: int, max_steps: int = MAX_RUN_STEPS
    ) -> Record | None:
        """Add the steps later than the run's ``last_step`` (each step once, in order) and renew the run's
        expiry; None when there is no such run for ``owner``; ``RunFull`` past ``max_steps`` records."""
        key, steps_key = self._key("run", run_id), self._key("run", run_id, "steps")
        ordered = sorted({s["step"]: s for s in steps}.values(), key=lambda s: s["step"])
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    record: Record | None = json.loads(raw) if raw is not None else None
                    if record is None or record.get("owner") != owner:
                        pipe.unwatch()
                        return None
                    last = record["last_step"] or 0
                    fresh = [s for s in ordered if s["step"] > last]
                    if record["steps_received"] + len(fresh) > max_steps:
                        pipe.unwatch()
                        raise RunFull(run_id, record["steps_received"], max_steps)
                    if fresh:
                        record.update(steps_received=record["steps_received"] + len(fresh), last_step=fresh[-1]["step"])
                    record["updated_at"] = now_iso()
                    pipe.multi()
                    if fresh:
                        pipe.rpush(steps_key, *[dumps(s) for s in fresh])
                    pipe.set(key, dumps(record), ex=ttl_seconds)
                    pipe.expire(steps_key, ttl_seconds)
                    pipe.execute()
                    return record
                except WatchError:
                    continue
