"""Verdicts that hold, end to end on tiny real trainings (a few seconds each)."""

from __future__ import annotations

import pytest

from worker.contract.spec import JobSpec
from worker.engine.job import run_job


def _spec(training: dict, *, n_samples: int = 150, budget: float = 30, layers: list | None = None) -> JobSpec:
    t = {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01, "batch_size": 32, "seed": 0, **training}
    return JobSpec.model_validate(
        {
            "data": {
                "source": "synthetic",
                "name": "blobs",
                "n_samples": n_samples,
                "n_features": 5,
                "n_classes": 3,
                "noise": 3.0,
                "seed": 7,
            },
            "model": {"layers": layers or [{"type": "linear", "out_features": 3}]},
            "training": t,
            "budget_seconds": budget,
            "device": "cpu",
        }
    )


@pytest.mark.slow
def test_a_run_of_two_epochs_is_short_not_signal_free() -> None:
    """Eight steps in all: the loss is still falling, so more steps decide. A larger model that
    learns faster in the same eight steps confirms nothing about capacity, nor a flat validation
    loss anything about the labels."""
    d = run_job(_spec({"epochs": 2})).as_json()["diagnosis"]
    confirmed = [f["cause"] for f in d["findings"] if f["confirmed"]]
    assert not {"no_learnable_signal", "insufficient_capacity", "label_noise"} & set(confirmed)
    assert d["primary_cause"] in ("too_few_steps", "lr_too_low", None)


@pytest.mark.slow
def test_a_baseline_the_budget_cut_short_confirms_nothing() -> None:
    """A budget far below the run: whatever the numbers look like, nothing is confirmed."""
    spec = _spec(
        {"epochs": 5000, "batch_size": 8},
        n_samples=600,
        budget=0.5,
        layers=[{"type": "linear", "out_features": 64}, {"type": "relu"}, {"type": "linear", "out_features": 3}],
    )
    result = run_job(spec).as_json()
    d = result["diagnosis"]
    assert result["baseline"]["stop_reason"] == "deadline"
    assert d["complete"] is False and d["verdict_basis"] == "inconclusive" and d["primary_cause"] is None
    assert not any(f["confirmed"] for f in d["findings"])


@pytest.mark.slow
def test_a_binary_task_with_one_logit_is_judged_as_classification() -> None:
    spec = JobSpec.model_validate(
        {
            "data": {"source": "synthetic", "name": "moons", "n_samples": 200, "noise": 0.1, "seed": 1},
            "model": {
                "layers": [
                    {"type": "linear", "out_features": 16},
                    {"type": "relu"},
                    {"type": "linear", "out_features": 1},
                ]
            },
            "training": {"loss": "bce_with_logits", "optimizer": "adam", "lr": 0.01, "epochs": 10, "seed": 0},
            "probes": ["shuffled_labels"],
            "budget_seconds": 30,
            "device": "cpu",
        }
    )
    result = run_job(spec).as_json()
    assert result["data"]["n_classes"] == 2
    acc = result["baseline"]["history"]["val_acc"]
    assert len(acc) == 10 and acc[-1] > 0.7
    assert result["baseline"]["summary"]["fit_share"] is not None
