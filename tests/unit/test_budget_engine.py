"""A whole job keeps its budget however long its epochs are, says what the cut-off left out, and
reports its progress by epoch."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import tiny_spec
from worker.contract.spec import JobSpec
from worker.engine.job import PROGRESS_CURVE_POINTS, EpochProgress, run_job, training_deadline
from worker.engine.train.loop import RunRecord

#: Seconds a test allows past the budget on a loaded machine (the product's bound is 5% or 2 s).
MARGIN_SECONDS = 3.0


def test_a_job_whose_epochs_are_long_ends_within_its_budget_and_says_what_was_left_out() -> None:
    spec = JobSpec.model_validate(
        tiny_spec(
            data={
                "source": "synthetic",
                "name": "classification",
                "n_samples": 200_000,
                "n_features": 20,
                "n_classes": 3,
                "seed": 0,
            },
            model={
                "layers": [
                    {"type": "linear", "out_features": 32},
                    {"type": "relu"},
                    {"type": "linear", "out_features": 3},
                ]
            },
            training={"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.01, "epochs": 5, "batch_size": 16},
            probes="auto",
            budget_seconds=2.0,
        )
    )
    began = time.monotonic()
    result = run_job(spec).as_json()
    took = time.monotonic() - began
    assert took <= spec.budget_seconds + MARGIN_SECONDS, took
    timing = result["timing"]
    assert timing["budget_seconds"] == 2.0 and timing["seconds"] <= took
    # 160 000 samples in batches of 16 are far more than 2 s of steps: the baseline is cut
    assert result["baseline"]["stop_reason"] == "deadline"
    left = {e["name"]: e for e in timing["left_out"]}
    assert left["baseline"]["why"] == "cut" and left["baseline"]["epochs_planned"] == 5
    assert left["baseline"]["epochs_run"] == result["baseline"]["summary"]["epochs_run"] < 5
    assert len(left) > 1  # probes cut beside it, or never started
    for entry in timing["left_out"]:
        assert entry["why"] in ("cut", "skipped")
    cut = [p["name"] for p in result["probes"] if p["stop_reason"] == "deadline"]
    assert set(cut) <= set(left)
    assert any("the budget cut short or left out: baseline (" in note for note in result["diagnosis"]["notes"])
    assert result["diagnosis"]["primary_cause"] is None or not result["diagnosis"].get("complete", True)


def test_progress_reports_count_epochs_and_carry_the_baselines_curve() -> None:
    events: list[dict[str, Any]] = []
    spec = JobSpec.model_validate(tiny_spec(training={**tiny_spec()["training"], "epochs": 6}))
    result = run_job(spec, on_event=events.append).as_json()
    reports = [e for e in events if e["type"] == "progress"]
    assert len(reports) >= 6
    done = [r["epochs_done"] for r in reports]
    assert done == sorted(done) and done[0] >= 1
    last = reports[-1]
    # the baseline and one probe, 6 epochs each (the probe may stop early; the total follows)
    assert last["epochs_done"] == last["epochs_total"] <= 12 and last["eta_seconds"] == 0.0
    curve = last["baseline"]
    assert curve["epoch"] == list(range(1, 7))
    assert curve["train_loss"] == result["baseline"]["history"]["train_loss"]
    assert all(r["elapsed_seconds"] >= 0 for r in reports)


def test_a_long_curve_is_thinned_with_its_last_point_kept() -> None:
    sent: list[dict[str, Any]] = []
    progress = EpochProgress(sent.append, 0.0, 100.0, clock=lambda: 10.0)
    progress.plan(1000)
    rec = RunRecord(
        initial_loss=1.0, initial_val_loss=1.0, train_loss=[1.0 / (k + 1) for k in range(999)], val_loss=[2.0] * 999
    )
    progress.on_epoch(999, rec)
    curve = sent[-1]["baseline"]
    assert len(curve["epoch"]) == PROGRESS_CURVE_POINTS and curve["epoch"][0] == 1 and curve["epoch"][-1] == 999
    assert curve["train_loss"][-1] == 1.0 / 999
    # 999 epochs in 10 s: the 1 left takes about 0.01 s
    assert 0.0 < sent[-1]["eta_seconds"] < 0.1


def test_the_reserve_is_a_tenth_of_the_budget_but_never_under_half_a_second() -> None:
    assert training_deadline(0.0, 90.0) == 81.0
    assert training_deadline(0.0, 2.0) == 1.5
    assert training_deadline(0.0, 0.5) == 0.25
