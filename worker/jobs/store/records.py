"""Creating, reading and listing job records and their events."""

from __future__ import annotations

import json
from typing import Any

from redis.exceptions import WatchError

from worker.jobs.store.base import (
    DEFAULT_OWNER,
    Event,
    QueueFull,
    Record,
    StoreBase,
    dumps,
    is_job_id,
    new_record,
    text,
)


class JobRecords(StoreBase):
    """A job is created ``queued`` with its first event; read by id (checked) and owner; listed newest first."""

    def create_job(
        self,
        job_id: str,
        spec: dict[str, Any],
        *,
        owner: str = DEFAULT_OWNER,
        retention_seconds: int,
        timeout_seconds: int,
        max_queued: int | None = None,
    ) -> Record:
        """Store a new ``queued`` job and its ``queued`` event; the caller enqueues it afterwards.

        With ``max_queued``, raise ``QueueFull`` instead when ``owner`` already has that many jobs queued;
        the count and the new job are one transaction, so concurrent requests cannot pass the limit.
        """
        record = new_record(job_id, spec, owner, retention_seconds, timeout_seconds)
        created = record["created_at"]
        if not self.redis.exists(self._key("jobs", owner)):  # a new owner: no job predates its status indexes
            self.redis.set(self._key("jobs", owner, "indexed"), b"1", nx=True)
        seq = self.redis.incr(self._key("seq"))
        record["seq"] = seq  # its score in the owner's indexes
        queued_key = self._key("queued", owner)
        pruned = False
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(queued_key)
                    count = int(pipe.scard(queued_key))
                    if max_queued is not None and count >= max_queued:
                        pipe.unwatch()
                        if pruned:
                            raise QueueFull(owner, count, max_queued)
                        self._prune_queued(owner)
                        pruned = True
                        continue
                    pipe.multi()
                    pipe.set(self._key("job", job_id), dumps(record))
                    pipe.rpush(
                        self._key("job", job_id, "events"),
                        dumps({"type": "queued", "at": created, "status": "queued"}),
                    )
                    pipe.zadd(self._key("jobs", owner), {job_id: seq})
                    pipe.zadd(self._key("jobs", owner, "queued"), {job_id: seq})
                    pipe.sadd(queued_key, job_id)
                    pipe.sadd(self._key("queued"), job_id)
                    pipe.hincrby(self._key("stats", "status"), "queued", 1)
                    pipe.execute()
                    return record
                except WatchError:
                    continue

    def _prune_queued(self, owner: str) -> None:
        """Drop ids from ``owner``'s queued set whose job is gone or no longer queued (a set left behind)."""
        queued_key = self._key("queued", owner)
        for raw_id in self.redis.smembers(queued_key):
            record = self.get_job(text(raw_id))
            if record is None or record["status"] != "queued":
                self.redis.srem(queued_key, raw_id)

    def queued_count(self, owner: str) -> int:
        """How many of ``owner``'s jobs are queued."""
        return int(self.redis.scard(self._key("queued", owner)))

    def get_job(self, job_id: str, owner: str | None = None) -> Record | None:
        """The record, or None when there is none, ``job_id`` is not a job id, or it belongs to another owner
        than ``owner``."""
        if not is_job_id(job_id):
            return None
        raw = self.redis.get(self._key("job", job_id))
        if raw is None:
            return None
        record: Record = json.loads(raw)
        if owner is not None and record.get("owner") != owner:
            return None
        return record

    def list_jobs(
        self, owner: str, *, status: str | None = None, after: str | None = None, limit: int = 20
    ) -> tuple[list[Record], str | None]:
        """Up to ``limit`` of ``owner``'s jobs, newest first, older than job ``after``; and the cursor.

        With ``status``, only the owner's index of that status is read, so a page costs about ``limit``
        record reads however many jobs the owner has in other statuses.
        """
        main = self._key("jobs", owner)
        if status is not None:
            self._index_statuses(owner)
        index = main if status is None else self._key("jobs", owner, status)
        top: float | str = "+inf"
        if after is not None:
            score = self.redis.zscore(main, after)
            if score is None:
                return [], None
            top = f"({score}"
        found: list[Record] = []
        while len(found) < limit:
            batch: list[tuple[bytes, float]] = self.redis.zrevrangebyscore(  # type: ignore[assignment]
                index, top, "-inf", start=0, num=100, withscores=True
            )
            if not batch:
                return found, None
            for raw_id, raw_score in batch:
                job_id, score = text(raw_id), float(raw_score)
                top = f"({score}"
                record = self.get_job(job_id)
                if record is None:  # expired under its retention: drop it from the indexes too
                    self.redis.zrem(main, job_id)
                    if index != main:
                        self.redis.zrem(index, job_id)
                    continue
                if status is None or record["status"] == status:  # else: moved on since this index was read
                    found.append(record)
                    if len(found) == limit:
                        break
        more = self.redis.zrevrangebyscore(index, top, "-inf", start=0, num=1)
        return found, (found[-1]["id"] if more else None)

    def _index_statuses(self, owner: str) -> None:
        """Once per owner: add jobs stored before the per-status indexes existed to the index of their status."""
        if not self.redis.set(self._key("jobs", owner, "indexed"), b"1", nx=True):
            return
        entries: list[tuple[bytes, float]] = self.redis.zrange(  # type: ignore[assignment]
            self._key("jobs", owner), 0, -1, withscores=True
        )
        for raw_id, score in entries:
            record = self.get_job(text(raw_id))
            if record is not None:
                self.redis.zadd(self._key("jobs", owner, record["status"]), {text(raw_id): score})

    def events(self, job_id: str, *, after: int = 0, limit: int | None = None) -> list[Event]:
        """The job's events in the order they happened, each with its 1-based ``seq``: those with a ``seq``
        above ``after``, at most ``limit`` of them (all when None)."""
        stop = -1 if limit is None else after + limit - 1
        raw = self.redis.lrange(self._key("job", job_id, "events"), after, stop)
        return [{"seq": i, **json.loads(item)} for i, item in enumerate(raw, start=after + 1)]

    def event_count(self, job_id: str) -> int:
        """How many events the job has, i.e. the ``seq`` of its latest one (0: none, or no such job)."""
        return int(self.redis.llen(self._key("job", job_id, "events")))

    def append_event(self, job_id: str, event: Event) -> bool:
        """Append ``event`` to the job's events without changing its record (kept for the record's retention);
        False when the job is gone."""
        events_key = self._key("job", job_id, "events")
        with self.redis.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self._key("job", job_id))
                    if not pipe.exists(self._key("job", job_id)):
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    pipe.rpush(events_key, dumps(event))
                    pipe.execute()
                    return True
                except WatchError:
                    continue

    def running_ids(self) -> list[str]:
        """Ids of the jobs whose record says ``running``."""
        return sorted(text(m) for m in self.redis.smembers(self._key("running")))

    def queued_ids(self) -> list[str]:
        """Ids of the jobs whose record says ``queued``; ids whose record is gone are dropped from the set."""
        found = []
        for raw_id in self.redis.smembers(self._key("queued")):
            job_id = text(raw_id)
            if self.redis.exists(self._key("job", job_id)):
                found.append(job_id)
            else:
                self.redis.srem(self._key("queued"), raw_id)
        return sorted(found)
