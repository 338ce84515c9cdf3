"""A running job's progress moves by epoch through the real stack (Redis, API, worker, engine)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from lossdoctor_stack import Stack

pytestmark = pytest.mark.slow


def test_a_running_jobs_epochs_progress_grows_before_it_ends(stack: Stack, spec: dict[str, Any]) -> None:
    spec = {
        **spec,
        "data": {"source": "builtin", "name": "digits"},
        "model": {
            "layers": [{"type": "linear", "out_features": 32}, {"type": "relu"}, {"type": "linear", "out_features": 10}]
        },
        "training": {**spec["training"], "epochs": 150},
        "budget_seconds": 60,
    }
    job_id = stack.submit(spec)["id"]
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = stack.client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            break
        if "epochs_done" in job["progress"]:
            seen.append(job["progress"])
        time.sleep(0.2)
    assert job["status"] == "succeeded", job.get("error")
    running = [p["epochs_done"] for p in seen]
    assert len(set(running)) >= 2 and running == sorted(running), running
    assert all(p["epochs_done"] <= p["epochs_total"] for p in seen)
    assert all(p["elapsed_seconds"] >= 0 and p["eta_seconds"] >= 0 for p in seen)
    # the baseline's curve grows with it, one point per epoch so far (150 is under the 200 kept)
    lengths = [len(p["baseline"]["epoch"]) for p in seen]
    assert lengths == sorted(lengths) and lengths[-1] > lengths[0]
    assert all(
        len(p["baseline"]["train_loss"]) == len(p["baseline"]["val_loss"]) == n
        for p, n in zip(seen, lengths, strict=True)
    )
    final = job["progress"]
    assert final["done"] == final["total"] > 0 and final["epochs_done"] == final["epochs_total"]
    assert final["baseline"]["train_loss"] == job["result"]["baseline"]["history"]["train_loss"]
    # progress reports go to the job's progress, not into its events
    events = stack.client.get(f"/v1/jobs/{job_id}/events").json()["events"]
    assert "progress" not in {e["type"] for e in events}
