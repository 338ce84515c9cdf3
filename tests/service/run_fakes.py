"""``MemoryRunStore``: the run store in dicts, for service tests that need no Redis."""

from __future__ import annotations

import copy
from typing import Any

from worker.jobs.run_store import MAX_RUN_STEPS, Record, RunFull, RunStore, new_run_id
from worker.jobs.store import now_iso


class MemoryRunStore(RunStore):
    """Runs and their step records in dicts, with the Redis store's semantics (owners, dedup, limit)."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.step_lists: dict[str, list[dict[str, Any]]] = {}
        self.idem: dict[tuple[str, str], str] = {}

    def create(
        self,
        owner: str,
        setup: dict[str, Any],
        *,
        name: str | None,
        ttl_seconds: int,
        idempotency_key: str | None = None,
    ) -> tuple[Record, bool]:
        if idempotency_key is not None and (owner, idempotency_key) in self.idem:
            return copy.deepcopy(self.records[self.idem[owner, idempotency_key]]), False
        run_id, now = new_run_id(), now_iso()
        self.records[run_id] = {
            "id": run_id,
            "owner": owner,
            "name": name,
            "setup": setup,
            "steps_received": 0,
            "last_step": None,
            "created_at": now,
            "updated_at": now,
        }
        self.step_lists[run_id] = []
        if idempotency_key is not None:
            self.idem[owner, idempotency_key] = run_id
        return copy.deepcopy(self.records[run_id]), True

    def get(self, run_id: str, owner: str | None = None) -> Record | None:
        record = self.records.get(run_id)
        if record is None or (owner is not None and record["owner"] != owner):
            return None
        return copy.deepcopy(record)

    def steps(self, run_id: str) -> list[dict[str, Any]]:
        return copy.deepcopy(self.step_lists.get(run_id, []))

    def append(
        self, run_id: str, owner: str, steps: list[dict[str, Any]], *, ttl_seconds: int, max_steps: int = MAX_RUN_STEPS
    ) -> Record | None:
        record = self.records.get(run_id)
        if record is None or record["owner"] != owner:
            return None
        last = record["last_step"] or 0
        fresh = sorted({s["step"]: s for s in steps if s["step"] > last}.values(), key=lambda s: s["step"])
        if record["steps_received"] + len(fresh) > max_steps:
            raise RunFull(run_id, record["steps_received"], max_steps)
        if fresh:
            self.step_lists[run_id] += copy.deepcopy(fresh)
            record.update(steps_received=record["steps_received"] + len(fresh), last_step=fresh[-1]["step"])
        record["updated_at"] = now_iso()
        return copy.deepcopy(record)
