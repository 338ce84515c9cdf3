"""The budget is kept through the real stack: a job whose epochs are far longer than its budget ends,
in the worker, within the budget and a margin for a loaded machine, and says what it left out."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from lossdoctor_stack import Stack

pytestmark = pytest.mark.slow

#: Seconds a test allows past the budget on a loaded machine (the product's bound is 5% or 2 s).
MARGIN_SECONDS = 3.0


def _seconds(start: str, end: str) -> float:
    return (
        datetime.fromisoformat(end.replace("Z", "+00:00")) - datetime.fromisoformat(start.replace("Z", "+00:00"))
    ).total_seconds()


def test_a_job_with_long_epochs_keeps_its_budget_in_the_worker(stack: Stack, spec: dict[str, Any]) -> None:
    long = {
        **spec,
        "probes": "auto",
        "budget_seconds": 3.0,
        "data": {
            "source": "synthetic",
            "name": "classification",
            "n_samples": 200_000,
            "n_features": 20,
            "n_classes": 3,
            "seed": 0,
        },
        "training": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.01, "epochs": 5, "batch_size": 16},
    }
    job = stack.submit(long)
    done = stack.wait(job["id"], timeout=120)
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert result["timing"]["seconds"] <= long["budget_seconds"] + MARGIN_SECONDS
    assert _seconds(done["started_at"], done["finished_at"]) <= long["budget_seconds"] + 2 * MARGIN_SECONDS
    assert result["baseline"]["stop_reason"] == "deadline"
    assert any(entry["name"] == "baseline" and entry["why"] == "cut" for entry in result["timing"]["left_out"])
    diagnosis = result["diagnosis"]
    assert diagnosis["complete"] is False and diagnosis["verdict_basis"] == "inconclusive"
    assert not any(f["confirmed"] for f in diagnosis["findings"])
