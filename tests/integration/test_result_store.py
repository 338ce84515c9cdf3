"""A typed Result through the real store and the real API: saved as strict JSON (NaN written as null once,
by the Result), read back into the same Result, and served by ``GET /v1/jobs/{id}`` as stored."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from lossdoctor_stack import Stack

from worker.contract.result import Result
from worker.jobs.store import new_job_id

NAN, INF = math.nan, math.inf


def strict(text: str) -> Any:
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in strict JSON"))


def test_a_result_with_nan_round_trips_through_the_store_and_the_api(stack: Stack, spec: dict[str, Any]) -> None:
    result = Result.of(
        {
            "baseline": {
                "history": {"epoch": [1, 2], "train_loss": [2.3, NAN], "val_loss": [INF, 2.2], "step_loss": [NAN]},
                "layers": [{"name": "0.linear", "grad_norm": [NAN], "update_ratio": [], "dead_fraction": []}],
                "summary": {"initial_loss": 2.3, "final_loss": None, "best_val_loss": INF, "diverged": True},
            },
            "probes": [{"name": "lr_x0.1", "history": {"epoch": [1], "train_loss": [-INF], "val_loss": [NAN]}}],
            "diagnosis": {"healthy": False, "primary_cause": None, "findings": [], "notes": [], "chance_loss": 2.3},
            "written_by": {"version": "next"},  # a field this version does not know
        }
    )
    job_id = new_job_id()
    stack.store.create_job(job_id, spec, retention_seconds=600, timeout_seconds=60)
    assert stack.store.finish(job_id, None, "succeeded", result=result, expect=("queued",)).applied

    raw = stack.redis.get(f"lossdoctor:job:{job_id}")
    assert raw is not None
    stored = strict(raw.decode())["result"]
    assert stored["baseline"]["history"]["train_loss"] == [2.3, None]
    assert stored["baseline"]["history"]["val_loss"] == [None, 2.2]
    assert stored["probes"][0]["history"] == {"epoch": [1], "train_loss": [None], "val_loss": [None]}
    assert stored["written_by"] == {"version": "next"}
    record = stack.store.get_job(job_id)
    assert record is not None and Result.of(record["result"]).to_json() == result.to_json()

    served = stack.client.get(f"/v1/jobs/{job_id}")
    assert served.status_code == 200
    assert strict(served.text)["result"] == stored == result.as_json()
    assert stack.client.get(f"/v1/jobs/{job_id}/report").status_code == 200
