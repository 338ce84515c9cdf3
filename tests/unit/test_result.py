"""The typed Result: built by the engine from the run records, NaN kept until its serialization turns
each into null (once, there), and a stored result of another version loaded and served as stored."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
import torch

from tests.conftest import TINY_SPEC
from worker.contract.result import Result
from worker.contract.spec import JobSpec
from worker.data import Split
from worker.diagnosis.record import LayerRecord, RunRecord
from worker.engine.checks import CheckResult
from worker.engine.probes import ProbeOutcome, ProbeRun
from worker.engine.result import build_evidence, build_result
from worker.engine.train.problem import make_problem

NAN, INF = math.nan, math.inf


def strict(text: str) -> Any:
    """JSON text parsed with NaN and Infinity refused."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in strict JSON"))


def _problem_and_split() -> tuple[Any, Split]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (np.arange(40) % 3).astype(np.int64)
    parts = Split(x[:30], y[:30], x[30:], y[30:])
    return make_problem(parts.x_train, parts.y_train, parts.x_val, parts.y_val, "cross_entropy", 3, "cpu"), parts


def _records() -> tuple[RunRecord, RunRecord]:
    """A baseline and a probe with a NaN or an infinity in every series a result shows (the epoch losses the
    rules compare hold None for non-finite, as the loops write them; the rest as an instrument may)."""
    baseline = RunRecord(
        initial_loss=1.1,
        initial_val_loss=1.1,
        train_loss=[1.0, None],
        val_loss=[INF, 1.0],
        val_acc=[0.5, None],
        penalty=[0.1, -INF],
        step_loss=[1.0, NAN, 0.9],
        step_grad_norm=[NAN, 2.0],
        step_update_ratio=[0.1, INF],
        layers=[LayerRecord("0.linear", grad_norm=[NAN, 1.0], update_ratio=[INF, 0.1]), LayerRecord("2.linear")],
        first_step_grad_norm=[1.0, 1.0],
        first_step_weight_norm=[1.0, 1.0],
        dead_fraction={"1.relu": [0.0, NAN, 0.5]},
        trainable_params=67,
        stop_reason="non_finite",
    )
    probe = RunRecord(initial_loss=NAN, initial_val_loss=1.1, train_loss=[1.2, 0.5], val_loss=[0.6, NAN])
    return baseline, probe


def test_nan_in_any_history_is_kept_until_the_results_json_writes_it_as_null() -> None:
    spec = JobSpec.model_validate({**TINY_SPEC, "training": {**TINY_SPEC["training"], "l2": 0.01}})
    problem, parts = _problem_and_split()
    baseline, probe = _records()
    run = ProbeRun("lr_x0.1", "lr_sweep", {"training.lr": 0.001}, spec.model, spec.training)
    outcomes = [ProbeOutcome(run, probe)]
    checks = {"input_scale": CheckResult("input_scale", False, "ok", {"spread": np.float64(NAN), "n": np.int64(3)})}
    ev = build_evidence(spec, problem, parts, checks, baseline, outcomes)
    result = build_result(spec, problem, checks, baseline, outcomes, ev, torch.device("cpu"), seconds=1.0, skipped=0)

    # the typed result still holds the numbers as measured: nothing was scrubbed on the way
    assert result.baseline is not None and result.baseline.history is not None
    assert result.baseline.history.step_loss is not None and math.isnan(result.baseline.history.step_loss[1])
    assert math.isnan(result.baseline.layers[0].grad_norm[0])
    assert result.probes[0].history is not None and math.isnan(result.probes[0].history.val_loss[1])

    out = strict(result.to_json())
    assert out == result.as_json()
    history = out["baseline"]["history"]
    assert history["train_loss"] == [1.0, None] and history["val_loss"] == [None, 1.0]
    assert history["val_acc"] == [0.5, None] and history["penalty"] == [0.1, None]
    assert history["step_loss"] == [1.0, None, 0.9] and history["grad_norm"] == [None, 2.0]
    assert history["update_ratio"] == [0.1, None]
    first, second = out["baseline"]["layers"]
    assert first == {
        "name": "0.linear",
        "grad_norm": [None, 1.0],
        "update_ratio": [None, 0.1],
        "dead_fraction": [0.0, None, 0.5],
        "activation": "1.relu",
    }
    assert second == {"name": "2.linear", "grad_norm": [], "update_ratio": [], "dead_fraction": []}
    probe_out = out["probes"][0]
    assert probe_out["history"] == {"epoch": [1, 2], "train_loss": [1.2, 0.5], "val_loss": [0.6, None]}
    assert probe_out["summary"]["initial_loss"] is None and probe_out["summary"]["best_val_loss"] == 0.6
    assert out["checks"][0]["numbers"] == {"spread": None, "n": 3}
    assert out["timing"]["budget_seconds"] is None and out["timing"]["left_out"] == []


def test_a_stored_result_of_another_version_loads_and_serves_as_stored() -> None:
    # older or newer: fields this version does not know, parts it expects left out, optional keys absent
    stored = {
        "baseline": {"history": {"epoch": [1], "train_loss": [2.3], "val_loss": [None]}, "gpu_seconds": 1.5},
        "probes": [{"name": "lr_x0.1", "summary": {"final_loss": 0.2, "sharpness": [1, None]}}],
        "diagnosis": {"healthy": False, "primary_cause": None, "findings": [{"cause": "label_noise"}]},
        "provenance": {"version": "0.9"},
    }
    result = Result.of(stored)
    assert result.baseline is not None and result.baseline.model_extra == {"gpu_seconds": 1.5}
    assert result.diagnosis is not None and result.diagnosis.findings[0].cause == "label_noise"
    assert result.timing is None and result.diagnosis.notes == []  # defaults for what it lacks
    assert result.as_json() == stored
    assert Result.of(result) is result


def test_a_result_round_trips_through_its_json() -> None:
    baseline, _ = _records()
    result = Result.of(
        {
            "baseline": {"history": {"epoch": [1, 2], "train_loss": baseline.train_loss, "val_loss": [INF, 1.0]}},
            "checks": [{"name": "non_finite", "flagged": True, "numbers": {"rows": 2, "share": NAN}}],
        }
    )
    text = result.to_json()
    again = Result.model_validate_json(text)
    assert again.to_json() == text and strict(text)["checks"][0]["numbers"] == {"rows": 2, "share": None}
