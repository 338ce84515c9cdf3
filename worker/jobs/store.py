"""The job-record store in Redis, shared by the API (which creates and cancels jobs) and the worker task.

Torch-free and free of any web framework. Every status change is one optimistic transaction
(WATCH/MULTI) that also appends the matching event, so a job's events always agree with its status and
two writers (a worker finishing, a user cancelling, the API's sweeper) can never both win.

Keys, under the prefix ``lossdoctor``::

    job:<id>              JSON record (see ``new_record``); expires ``retention_seconds`` after it ends
    job:<id>:events       list of JSON events, oldest first; expires with the record
    job:<id>:cancel       present once a cancel was asked for; the task polls it
    jobs:<owner>          sorted set of job ids scored by creation order (newest first in listings)
    jobs:<owner>:<status> the same, for the owner's jobs in one status (listing by status reads only these);
                          moved in the transaction that changes the status; jobs:<owner>:indexed marks an
                          owner whose jobs from before this index existed were added to it
    queued:<owner>        set of ids of the owner's queued jobs (the per-key queue limit counts it)
    queued                set of ids of every queued job (the sweeper's reconciler walks it)
    running               set of ids of running jobs (the sweeper's work list)
    idem:<owner>:<key>    an Idempotency-Key's body hash and job id
    dataset:<id>          canonical .npz bytes of an upload; dataset:<id>:meta its description
    model:<id>            an uploaded ONNX file's bytes; model:<id>:meta its description
    webhooks:due          sorted set of ids of ended jobs whose webhook is to be sent, scored by when (Unix s)
    webhooks:attempts     hash: job id → delivery attempts made so far
    stats:status          current number of jobs per status (the ended ones only ever grow: counters)
    stats:duration        histogram of run times (``DURATION_BUCKETS``), plus ``sum`` and ``count``;
                          stats:duration:<status> the same for the jobs that ended in that status
    stats:cause           succeeded jobs per diagnosed cause (``diagnosed_cause``), counted as they end

Ids from outside (a URL path) are checked here, in one place: a job id is ``job_`` and 24 hex digits, a data
set id ``ds_`` and 24 hex digits (``is_job_id``, ``is_dataset_id``). Any other id reads as absent, so it can
never name another key (``job_…:events`` is a list, not a record) nor tell whether such a key exists.

Records carry an ``owner``: the tenant of the API key that created them (``"public"`` when the service
runs without keys); reads take the caller's owner and treat another owner's job as absent.

Every JSON value written is strict JSON (RFC 8259): a non-finite float (NaN, inf) becomes ``null``, so
a result full of diverged losses still reads back and serves as valid JSON.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from redis import Redis
from redis.exceptions import WatchError

from worker.contract.result import Result

#: Prefix of every key this store writes.
KEY_PREFIX = "lossdoctor"
#: Owner of jobs and data sets created without an API key.
DEFAULT_OWNER = "public"
#: Statuses in which a job will not change any more.
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
#: Upper bounds, in seconds, of the job run-time histogram buckets.
DURATION_BUCKETS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
#: Seconds a cancel flag lives; longer than any job's time limit.
CANCEL_FLAG_TTL = 2 * 3600

#: The ids ``new_job_id`` and ``put_dataset`` make; nothing else names a job or a data set.
JOB_ID_PATTERN = re.compile(r"job_[0-9a-f]{24}")
DATASET_ID_PATTERN = re.compile(r"ds_[0-9a-f]{24}")
MODEL_ID_PATTERN = re.compile(r"mdl_[0-9a-f]{24}")

Record = dict[str, Any]
Event = dict[str, Any]
#: A change to a record: returns the events it causes, or None to leave the record as it is.
Mutation = Callable[[Record], list[Event] | None]


class QueueFull(Exception):
    """The owner already has ``limit`` jobs queued; nothing was stored."""

    def __init__(self, owner: str, count: int, limit: int) -> None:
        super().__init__(f"{owner} has {count} jobs queued; the limit is {limit}")
        self.owner, self.count, self.limit = owner, count, limit


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, inf, -inf) inside it replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON text of ``value``: non-finite floats become ``null`` (never ``NaN`` or ``Infinity``)."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        return json.dumps(finite(value), allow_nan=False)


def now_iso() -> str:
    """The current UTC time, ISO 8601 with milliseconds and a ``Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_between(start_iso: str, end_iso: str) -> float:
    """Seconds from one ``now_iso`` timestamp to another."""
    parse = datetime.fromisoformat
    return (parse(end_iso.replace("Z", "+00:00")) - parse(start_iso.replace("Z", "+00:00"))).total_seconds()


def text(value: bytes | str) -> str:
    """A Redis reply as text (the client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


def diagnosed_cause(result: dict[str, Any] | None) -> str:
    """What a succeeded job's diagnosis found, for counting: its ``primary_cause``, else ``healthy`` or
    ``inconclusive``."""
    diagnosis = (result or {}).get("diagnosis") or {}
    if diagnosis.get("primary_cause"):
        return str(diagnosis["primary_cause"])
    return "healthy" if diagnosis.get("healthy") else "inconclusive"


def new_job_id() -> str:
    """A fresh job id: ``job_`` and 24 hex digits (valid as an rq job id, too)."""
    return "job_" + uuid.uuid4().hex[:24]


def is_job_id(value: str) -> bool:
    """Whether ``value`` has the form of a job id (``job_`` and 24 lowercase hex digits)."""
    return JOB_ID_PATTERN.fullmatch(value) is not None


def is_dataset_id(value: str) -> bool:
    """Whether ``value`` has the form of a data set id (``ds_`` and 24 lowercase hex digits)."""
    return DATASET_ID_PATTERN.fullmatch(value) is not None


def is_model_id(value: str) -> bool:
    """Whether ``value`` has the form of a model id (``mdl_`` and 24 lowercase hex digits)."""
    return MODEL_ID_PATTERN.fullmatch(value) is not None


@dataclass(frozen=True)
class Update:
    """What an attempted change did: ``applied`` or not, and the record as it now is (None: no such job)."""

    applied: bool
    record: Record | None


class JobStore:
    """Job records, their events, cancel flags, idempotency keys, uploaded data sets and counters."""

    def __init__(self, redis: Redis, prefix: str = KEY_PREFIX) -> None:
        """``redis`` must return bytes (``decode_responses=False``), as rq needs too."""
        self.redis = redis
        self.prefix = prefix

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    # ---- creating and reading jobs ----------------------------------------------------------------

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
        created = now_iso()
        record: Record = {
            "id": job_id,
            "owner": owner,
            "name": spec.get("name"),
            "status": "queued",
            "progress": {"done": 0, "total": 0},
            "spec": spec,
            "result": None,
            "error": None,
            "created_at": created,
            "started_at": None,
            "finished_at": None,
            "attempt": 1,
            "worker": None,
            "retention_seconds": retention_seconds,
            "timeout_seconds": timeout_seconds,
        }
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

    # ---- changing jobs ----------------------------------------------------------------------------

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

    # ---- webhook deliveries -----------------------------------------------------------------------

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

    # ---- idempotency keys -------------------------------------------------------------------------

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

    # ---- uploaded data sets -----------------------------------------------------------------------

    def put_dataset(
        self, content: bytes, description: dict[str, Any], *, owner: str = DEFAULT_OWNER, ttl_seconds: int
    ) -> dict[str, Any]:
        """Store canonical .npz bytes and their description for ``ttl_seconds``; returns the metadata."""
        dataset_id = "ds_" + uuid.uuid4().hex[:24]
        meta = {"id": dataset_id, "owner": owner, "created_at": now_iso(), **description}
        with self.redis.pipeline() as pipe:
            pipe.set(self._key("dataset", dataset_id), content, ex=ttl_seconds)
            pipe.set(self._key("dataset", dataset_id, "meta"), dumps(meta), ex=ttl_seconds)
            pipe.execute()
        return meta

    def get_dataset_meta(self, dataset_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """A data set's metadata, or None (absent, expired, not a data set id, or another owner's)."""
        if not is_dataset_id(dataset_id):
            return None
        raw = self.redis.get(self._key("dataset", dataset_id, "meta"))
        meta: dict[str, Any] | None = json.loads(raw) if raw is not None else None
        if meta is None or (owner is not None and meta.get("owner") != owner):
            return None
        return meta

    def get_dataset_bytes(self, dataset_id: str, owner: str | None = None) -> bytes | None:
        """A data set's canonical .npz bytes, or None (absent, expired, or another owner's)."""
        if self.get_dataset_meta(dataset_id, owner) is None:
            return None
        content = self.redis.get(self._key("dataset", dataset_id))
        return content if isinstance(content, bytes) else None

    # ---- uploaded models --------------------------------------------------------------------------

    def put_model(
        self, content: bytes, description: dict[str, Any], *, owner: str = DEFAULT_OWNER, ttl_seconds: int
    ) -> dict[str, Any]:
        """Store an accepted ONNX file and its description for ``ttl_seconds``; returns the metadata."""
        model_id = "mdl_" + uuid.uuid4().hex[:24]
        meta = {"id": model_id, "owner": owner, "created_at": now_iso(), **description}
        with self.redis.pipeline() as pipe:
            pipe.set(self._key("model", model_id), content, ex=ttl_seconds)
            pipe.set(self._key("model", model_id, "meta"), dumps(meta), ex=ttl_seconds)
            pipe.execute()
        return meta

    def get_model_meta(self, model_id: str, owner: str | None = None) -> dict[str, Any] | None:
        """A model's metadata, or None (absent, expired, not a model id, or another owner's)."""
        if not is_model_id(model_id):
            return None
        raw = self.redis.get(self._key("model", model_id, "meta"))
        meta: dict[str, Any] | None = json.loads(raw) if raw is not None else None
        if meta is None or (owner is not None and meta.get("owner") != owner):
            return None
        return meta

    def get_model_bytes(self, model_id: str, owner: str | None = None) -> bytes | None:
        """A model's ONNX bytes, or None (absent, expired, or another owner's)."""
        if self.get_model_meta(model_id, owner) is None:
            return None
        content = self.redis.get(self._key("model", model_id))
        return content if isinstance(content, bytes) else None

    def get_upload_bytes(self, upload_id: str, owner: str | None = None) -> bytes | None:
        """An upload's bytes by id: a model for ``mdl_…``, else a data set (the engine's one fetch seam)."""
        if upload_id.startswith("mdl_"):
            return self.get_model_bytes(upload_id, owner)
        return self.get_dataset_bytes(upload_id, owner)

    def ping(self) -> bool:
        """True when Redis answers (raises redis' ConnectionError when it does not)."""
        return bool(self.redis.ping())

    def try_lock(self, name: str, ttl_ms: int) -> bool:
        """Take the named lock for ``ttl_ms`` milliseconds unless another process holds it."""
        return bool(self.redis.set(self._key("lock", name), b"1", nx=True, px=ttl_ms))

    # ---- counters for /metrics --------------------------------------------------------------------

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
