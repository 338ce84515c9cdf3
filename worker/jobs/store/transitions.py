"""Every change to a job: one optimistic transaction (WATCH/MULTI) that writes the record, its events, the
indexes, the counters and the expiry together; and the cancel flag a running job's task polls."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from redis.exceptions import WatchError

from worker.contract.result import Result
from worker.jobs.store.base import (
    CANCEL_FLAG_TTL,
    DEFAULT_OWNER,
    DURATION_BUCKETS,
    TERMINAL,
    Event,
    Mutation,
    Record,
    StoreBase,
    Update,
    diagnosed_cause,
    dumps,
    now_iso,
    seconds_between,
)


class JobTransitions(StoreBase):
    """Status changes (``update`` and the named transitions built on it) and cancel flags."""

    def update(self, job_id: str, mutate: Mutation) -> Update:
        """Apply ``mutate`` to the record atomically, with its events; retried if another writer raced."""
        key = self._key("job", job_id)
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        return Update(False, None)
                    record = json.loads(raw)
                    before = record["status"]
                    events = mutate(record)
                    if events is None:
                        return Update(False, record)
                    if "seq" not in record:  # stored before records kept their index score
                        record["seq"] = pipe.zscore(self._key("jobs", str(record.get("owner", DEFAULT_OWNER))), job_id)
                    pipe.multi()
                    self._write(pipe, record, before, events)
                    pipe.execute()
                    return Update(True, record)
                except WatchError:
                    continue

    def _write(self, pipe: Any, record: Record, before: str, events: list[Event]) -> None:
        """Queue the writes of one change on a MULTI pipeline: record, events, indexes, counters, expiry."""
        job_id, after = record["id"], record["status"]
        key, events_key = self._key("job", job_id), self._key("job", job_id, "events")
        pipe.set(key, dumps(record))
        for event in events:
            pipe.rpush(events_key, dumps(event))
        if before != after:
            pipe.hincrby(self._key("stats", "status"), before, -1)
            pipe.hincrby(self._key("stats", "status"), after, 1)
            owner = str(record.get("owner", DEFAULT_OWNER))
            pipe.zrem(self._key("jobs", owner, before), job_id)
            if record.get("seq") is not None:
                pipe.zadd(self._key("jobs", owner, after), {job_id: record["seq"]})
            queued_key = self._key("queued", owner)
            if after == "queued":
                pipe.sadd(queued_key, job_id)
                pipe.sadd(self._key("queued"), job_id)
            elif before == "queued":
                pipe.srem(queued_key, job_id)
                pipe.srem(self._key("queued"), job_id)
            if after == "running":
                pipe.sadd(self._key("running"), job_id)
            else:
                pipe.srem(self._key("running"), job_id)
            if after in TERMINAL:
                ttl = int(record["retention_seconds"])
                for k in (key, events_key, self._key("job", job_id, "cancel")):
                    pipe.expire(k, ttl)
                if record.get("started_at"):
                    seconds = seconds_between(record["started_at"], record["finished_at"])
                    self._observe_duration(pipe, seconds, after)
                if before not in TERMINAL and after == "succeeded":
                    pipe.hincrby(self._key("stats", "cause"), diagnosed_cause(record.get("result")), 1)
                if before not in TERMINAL and (record.get("spec") or {}).get("webhook"):
                    # in the same transaction as the end, so each ended job is delivered once, whoever ended it
                    pipe.zadd(self._key("webhooks", "due"), {job_id: time.time()})

    def _observe_duration(self, pipe: Any, seconds: float, status: str) -> None:
        for hist in (self._key("stats", "duration"), self._key("stats", "duration", status)):
            for bound in DURATION_BUCKETS:
                if seconds <= bound:
                    pipe.hincrby(hist, repr(bound), 1)
            pipe.hincrbyfloat(hist, "sum", seconds)
            pipe.hincrby(hist, "count", 1)

    def mark_running(self, job_id: str, attempt: int, worker: dict[str, Any]) -> Update:
        """queued → running for attempt ``attempt``; not applied if cancelled or superseded meanwhile."""

        def mutate(r: Record) -> list[Event] | None:
            if r["status"] != "queued" or r["attempt"] != attempt:
                return None
            r.update(status="running", started_at=now_iso(), worker=worker)
            return [
                {
                    "type": "started",
                    "at": r["started_at"],
                    "status": "running",
                    "attempt": attempt,
                    "worker": worker.get("name"),
                }
            ]

        return self.update(job_id, mutate)

    def finish(
        self,
        job_id: str,
        attempt: int | None,
        status: str,
        *,
        result: Result | dict[str, Any] | None = None,
        error: dict[str, str] | None = None,
        expect: Iterable[str] = ("running",),
    ) -> Update:
        """Move the job to a terminal ``status`` from one of ``expect``; ``attempt`` None matches any.

        A typed ``Result`` is kept as its strict JSON (``Result.as_json``: non-finite floats are null)."""
        allowed = frozenset(expect)
        if isinstance(result, Result):
            result = result.as_json()

        def mutate(r: Record) -> list[Event] | None:
            if r["status"] not in allowed or (attempt is not None and r["attempt"] != attempt):
                return None
            r.update(status=status, result=result, error=error, finished_at=now_iso())
            event: Event = {"type": status, "at": r["finished_at"], "status": status}
            if error is not None:
                event["error"] = error
            return [event]

        return self.update(job_id, mutate)

    def requeue(self, job_id: str, attempt: int, reason: str) -> Update:
        """running → queued as attempt ``attempt + 1``, after its worker was lost during ``attempt``."""

        def mutate(r: Record) -> list[Event] | None:
            if r["status"] != "running" or r["attempt"] != attempt:
                return None
            r.update(
                status="queued",
                attempt=attempt + 1,
                started_at=None,
                worker=None,
                progress={"done": 0, "total": r["progress"]["total"]},
            )
            at = now_iso()
            return [
                {"type": "worker_lost", "at": at, "reason": reason, "attempt": attempt},
                {"type": "requeued", "at": at, "status": "queued", "attempt": attempt + 1},
            ]

        return self.update(job_id, mutate)

    def enqueue_again(self, job_id: str, attempt: int, reason: str) -> Update:
        """Count one more enqueue of queued attempt ``attempt`` (``enqueues`` in the record) with its event,
        before the caller puts it on the queue again because it was missing there."""

        def mutate(r: Record) -> list[Event] | None:
            if r["status"] != "queued" or r["attempt"] != attempt:
                return None
            r["enqueues"] = int(r.get("enqueues", 1)) + 1
            return [{"type": "enqueued_again", "at": now_iso(), "reason": reason, "attempt": attempt}]

        return self.update(job_id, mutate)

    def record_progress(self, job_id: str, attempt: int, event: Event) -> Update:
        """Append an engine event of the running attempt; ``done``/``total`` in it update the progress."""

        def mutate(r: Record) -> list[Event] | None:
            if r["status"] != "running" or r["attempt"] != attempt:
                return None
            if isinstance(event.get("done"), int) and isinstance(event.get("total"), int):
                r["progress"] = {"done": event["done"], "total": event["total"]}
            return [{**event, "at": now_iso()}]

        return self.update(job_id, mutate)

    def request_cancel(self, job_id: str) -> None:
        """Raise the cancel flag that a running job's task polls."""
        self.redis.set(self._key("job", job_id, "cancel"), b"1", ex=CANCEL_FLAG_TTL)

    def cancel_requested(self, job_id: str) -> bool:
        """True once a cancel was asked for."""
        return bool(self.redis.exists(self._key("job", job_id, "cancel")))
