"""In-memory stand-ins for the API's one I/O seam: the job store and the queue client.

``MemoryJobStore`` inherits the store's transition rules (``mark_running``, ``finish``, ``requeue``,
``record_progress``) and replaces only the Redis reads and writes underneath them.
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from typing import Any

from service.queue import WorkerInfo
from worker.jobs.store import (
    STATUSES,
    TERMINAL,
    JobStore,
    Mutation,
    QueueFull,
    Record,
    Update,
    diagnosed_cause,
    new_record,
    now_iso,
)


class MemoryJobStore(JobStore):
    """A job store in dicts, for tests that need no Redis."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.event_lists: dict[str, list[dict[str, Any]]] = {}
        self.order: list[str] = []
        self.flags: set[str] = set()
        self.idem: dict[tuple[str, str], dict[str, str]] = {}
        self.datasets: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self.webhooks_due: dict[str, float] = {}
        self.webhook_attempts: dict[str, int] = {}
        self.models: dict[str, tuple[bytes, dict[str, Any]]] = {}
        self.up = True

    def create_job(
        self,
        job_id: str,
        spec: dict[str, Any],
        *,
        owner: str = "public",
        retention_seconds: int,
        timeout_seconds: int,
        max_queued: int | None = None,
    ) -> Record:
        count = self.queued_count(owner)
        if max_queued is not None and count >= max_queued:
            raise QueueFull(owner, count, max_queued)
        record = new_record(job_id, spec, owner, retention_seconds, timeout_seconds)
        self.records[job_id] = record
        self.event_lists[job_id] = [{"type": "queued", "at": record["created_at"], "status": "queued"}]
        self.order.append(job_id)
        return copy.deepcopy(record)

    def get_job(self, job_id: str, owner: str | None = None) -> Record | None:
        record = self.records.get(job_id)
        if record is None or (owner is not None and record["owner"] != owner):
            return None
        return copy.deepcopy(record)

    def list_jobs(
        self, owner: str, *, status: str | None = None, after: str | None = None, limit: int = 20
    ) -> tuple[list[Record], str | None]:
        ids = [i for i in reversed(self.order) if self.records[i]["owner"] == owner]
        if after is not None:
            if after not in ids:
                return [], None
            ids = ids[ids.index(after) + 1 :]
        matching = [i for i in ids if status is None or self.records[i]["status"] == status]
        page = matching[:limit]
        rest = ids[ids.index(page[-1]) + 1 :] if page else []
        return [copy.deepcopy(self.records[i]) for i in page], (page[-1] if page and rest else None)

    def events(self, job_id: str, *, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        found = self.event_lists.get(job_id, [])[after : None if limit is None else after + limit]
        return [{"seq": i, **e} for i, e in enumerate(found, start=after + 1)]

    def event_count(self, job_id: str) -> int:
        return len(self.event_lists.get(job_id, []))

    def append_event(self, job_id: str, event: dict[str, Any]) -> bool:
        if job_id not in self.records:
            return False
        self.event_lists[job_id].append(json.loads(json.dumps(event)))
        return True

    def running_ids(self) -> list[str]:
        return sorted(i for i, r in self.records.items() if r["status"] == "running")

    def queued_ids(self) -> list[str]:
        return sorted(i for i, r in self.records.items() if r["status"] == "queued")

    def update(self, job_id: str, mutate: Mutation) -> Update:
        if job_id not in self.records:
            return Update(False, None)
        record = copy.deepcopy(self.records[job_id])
        events = mutate(record)
        if events is None:
            return Update(False, record)
        before = self.records[job_id]["status"]
        self.records[job_id] = record
        self.event_lists[job_id].extend(json.loads(json.dumps(events)))
        if record["status"] in TERMINAL and before not in TERMINAL and (record.get("spec") or {}).get("webhook"):
            self.webhooks_due[job_id] = time.time()
        return Update(True, copy.deepcopy(record))

    def claim_webhooks(self, now: float, lease_seconds: float, limit: int = 20) -> list[tuple[str, int]]:
        due = sorted((at, job_id) for job_id, at in self.webhooks_due.items() if at <= now)[:limit]
        claimed = []
        for _, job_id in due:
            self.webhooks_due[job_id] = now + lease_seconds
            self.webhook_attempts[job_id] = self.webhook_attempts.get(job_id, 0) + 1
            claimed.append((job_id, self.webhook_attempts[job_id]))
        return claimed

    def retry_webhook(self, job_id: str, at: float) -> None:
        self.webhooks_due[job_id] = at

    def end_webhook(self, job_id: str) -> None:
        self.webhooks_due.pop(job_id, None)
        self.webhook_attempts.pop(job_id, None)

    def request_cancel(self, job_id: str) -> None:
        self.flags.add(job_id)

    def cancel_requested(self, job_id: str) -> bool:
        return job_id in self.flags

    def claim_idempotency_key(
        self, owner: str, key: str, body_hash: str, job_id: str, ttl_seconds: int
    ) -> dict[str, str] | None:
        if (owner, key) in self.idem:
            return self.idem[(owner, key)]
        self.idem[(owner, key)] = {"body_hash": body_hash, "job_id": job_id}
        return None

    def release_idempotency_key(self, owner: str, key: str, job_id: str) -> None:
        if self.idem.get((owner, key), {}).get("job_id") == job_id:
            del self.idem[(owner, key)]

    def queued_count(self, owner: str) -> int:
        return sum(1 for r in self.records.values() if r["owner"] == owner and r["status"] == "queued")

    def put_dataset(
        self, content: bytes, description: dict[str, Any], *, owner: str = "public", ttl_seconds: int
    ) -> dict[str, Any]:
        meta = {"id": "ds_" + uuid.uuid4().hex[:24], "owner": owner, "created_at": now_iso(), **description}
        self.datasets[meta["id"]] = (content, meta)
        return meta

    def get_dataset_meta(self, dataset_id: str, owner: str | None = None) -> dict[str, Any] | None:
        entry = self.datasets.get(dataset_id)
        if entry is None or (owner is not None and entry[1]["owner"] != owner):
            return None
        return entry[1]

    def get_dataset_bytes(self, dataset_id: str, owner: str | None = None) -> bytes | None:
        entry = self.datasets.get(dataset_id)
        if entry is None or (owner is not None and entry[1]["owner"] != owner):
            return None
        return entry[0]

    def put_model(
        self, content: bytes, description: dict[str, Any], *, owner: str = "public", ttl_seconds: int
    ) -> dict[str, Any]:
        meta = {"id": "mdl_" + uuid.uuid4().hex[:24], "owner": owner, "created_at": now_iso(), **description}
        self.models[meta["id"]] = (content, meta)
        return meta

    def get_model_meta(self, model_id: str, owner: str | None = None) -> dict[str, Any] | None:
        entry = self.models.get(model_id)
        if entry is None or (owner is not None and entry[1]["owner"] != owner):
            return None
        return entry[1]

    def get_model_bytes(self, model_id: str, owner: str | None = None) -> bytes | None:
        entry = self.models.get(model_id)
        if entry is None or (owner is not None and entry[1]["owner"] != owner):
            return None
        return entry[0]

    def ping(self) -> bool:
        if not self.up:
            from redis.exceptions import ConnectionError

            raise ConnectionError("connection refused")
        return True

    def try_lock(self, name: str, ttl_ms: int) -> bool:
        return True

    def status_counts(self) -> dict[str, int]:
        return {s: sum(1 for r in self.records.values() if r["status"] == s) for s in STATUSES}

    def cause_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for r in self.records.values():
            if r["status"] == "succeeded":
                cause = diagnosed_cause(r.get("result"))
                counts[cause] = counts.get(cause, 0) + 1
        return counts

    def duration_histogram(self, status: str | None = None) -> tuple[list[tuple[float, int]], float, int]:
        statuses = {status} if status else TERMINAL
        ended = [r for r in self.records.values() if r["status"] in statuses and r["started_at"]]
        return [(1.0, 0), (60.0, len(ended))], 0.0, len(ended)


class MemoryJobQueue:
    """Records what the API asked of the queue; workers and their heartbeat ages are set by the test."""

    def __init__(self) -> None:
        self.enqueued: list[tuple[str, int, int]] = []
        self.removed: list[tuple[str, int]] = []
        self.stopped: list[tuple[str, int]] = []
        self.started: list[tuple[str, int]] = []
        self.rq_statuses: dict[tuple[str, int], str] = {}
        self.heartbeats: dict[str, float] = {}
        #: rq job ids the test declares lost from the queue (Redis dropped them).
        self.lost: set[str] = set()

    def enqueue(self, job_id: str, attempt: int, timeout_seconds: int) -> None:
        self.enqueued.append((job_id, attempt, timeout_seconds))

    def remove(self, job_id: str, attempt: int) -> None:
        self.removed.append((job_id, attempt))

    def stop(self, job_id: str, attempt: int) -> None:
        self.stopped.append((job_id, attempt))

    def rq_status(self, job_id: str, attempt: int) -> str | None:
        return self.rq_statuses.get((job_id, attempt), "started")

    def started_attempts(self) -> list[tuple[str, int]]:
        return list(self.started)

    def present_ids(self) -> set[str]:
        """Enqueued attempts not removed, and started ones; ``lost`` ones are on neither list."""
        waiting = {f"{j}-{a}" for j, a, _ in self.enqueued if (j, a) not in self.removed}
        return (waiting | {f"{j}-{a}" for j, a in self.started}) - self.lost

    def depth(self) -> int:
        return len(self.enqueued) - len(self.removed)

    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo(name, age) for name, age in self.heartbeats.items()]

    def heartbeat_age(self, worker_name: str) -> float:
        return self.heartbeats.get(worker_name, float("inf"))
