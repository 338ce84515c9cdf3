"""run_job end to end on tiny jobs: the contract's result shape, events, cancel, and two verdicts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from worker.contract.errors import SpecError
from worker.contract.result import Result
from worker.contract.spec import CAUSES, JobSpec
from worker.diagnosis.rules.measures import MIN_GAIN
from worker.engine.job import Cancelled, run_job

ROOT = Path(__file__).resolve().parents[2]


def _spec(**training) -> dict:
    t = {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01, "batch_size": 32, "epochs": 15, "seed": 0}
    t.update(training)
    return {
        "data": {"source": "synthetic", "name": "blobs", "n_samples": 300, "n_features": 4, "n_classes": 3, "seed": 0},
        "model": {
            "layers": [{"type": "linear", "out_features": 16}, {"type": "relu"}, {"type": "linear", "out_features": 3}]
        },
        "training": t,
        "budget_seconds": 30,
    }


def test_result_follows_the_contract_and_is_strict_json() -> None:
    events: list[dict] = []
    spec = JobSpec.model_validate({**_spec(), "probes": ["lr_sweep", "shuffled_labels"]})
    typed = run_job(spec, on_event=events.append)
    assert isinstance(typed, Result) and typed.diagnosis is not None and typed.baseline is not None
    result = json.loads(typed.to_json(), parse_constant=lambda name: pytest.fail(f"{name} in the result"))
    assert result["diagnosis"]["primary_cause"] == typed.diagnosis.primary_cause
    assert [layer.name for layer in typed.baseline.layers] == [layer["name"] for layer in result["baseline"]["layers"]]
    hist = result["baseline"]["history"]
    assert hist["epoch"] == list(range(1, 16)) and len(hist["train_loss"]) == len(hist["val_loss"]) == 15
    assert hist["step_loss"] and hist["grad_norm"] and hist["update_ratio"]
    assert {layer["name"] for layer in result["baseline"]["layers"]} == {"0.linear", "2.linear"}
    assert result["baseline"]["layers"][0]["dead_fraction"]
    names = [p["name"] for p in result["probes"]]
    assert "shuffled_labels" in names and any(n.startswith("lr_x") for n in names)
    for probe in result["probes"]:
        assert set(probe["summary"]) >= {"initial_loss", "final_loss", "relative_decrease", "diverged"}
        assert probe["changes"]
        # probes asked for by name train their full length, settled baseline or not
        assert probe["stop_reason"] != "settled"
    d = result["diagnosis"]
    assert set(d) >= {"healthy", "primary_cause", "findings", "summary"}
    assert d["primary_cause"] is None or d["primary_cause"] in CAUSES
    kinds = [e["type"] for e in events]
    assert kinds[0] == "checks_done" and kinds[-1] == "diagnosed"
    finished = [e for e in events if e["type"] == "probe_finished"]
    assert [e["done"] for e in finished] == list(range(1, len(finished) + 1))


def test_a_healthy_run_is_called_healthy() -> None:
    result = run_job(JobSpec.model_validate(_spec())).as_json()
    d = result["diagnosis"]
    assert d["healthy"] is True and d["primary_cause"] is None and d["findings"] == []
    # once the baseline was within MIN_GAIN of a perfect fit no probe could confirm a cause, so
    # the probes stopped there while the baseline trained on
    base = result["baseline"]["history"]["train_loss"]
    assert len(base) == 15 and result["baseline"]["stop_reason"] == "completed"
    settled = [p for p in result["probes"] if p["stop_reason"] == "settled"]
    stopped = {len(p["history"]["train_loss"]) for p in settled}
    assert len(result["probes"]) >= 12 and settled and len(stopped) == 1
    k = stopped.pop()
    assert k < 15 and base[k - 1] < MIN_GAIN * d["chance_loss"]
    # the rest had stopped before: clearly behind the baseline, or answered by its signal
    for p in result["probes"]:
        if p["stop_reason"] != "settled":
            assert p["stop_reason"] in ("behind", "answered") and len(p["history"]["train_loss"]) <= k, p["name"]
    assert result["timing"]["probes_stopped_settled"] == len(settled)
    assert any(note.startswith(f"{len(settled)} probes stopped after {k} of their epochs") for note in d["notes"]), d[
        "notes"
    ]


def test_probes_trained_one_by_one_also_stop_where_the_baseline_settled() -> None:
    spec = _spec()
    spec["model"]["layers"].insert(2, {"type": "dropout", "p": 0.1})  # dropout runs do not stack
    result = run_job(JobSpec.model_validate(spec)).as_json()
    assert result["diagnosis"]["healthy"] is True
    base = result["baseline"]["history"]["train_loss"]
    settled = [p for p in result["probes"] if p["stop_reason"] == "settled"]
    stopped = {len(p["history"]["train_loss"]) for p in settled}
    assert len(base) == 15 and len(stopped) == 1
    k = stopped.pop()
    assert k < 15
    # a probe without the dropout stacks, and may stop before, clearly behind the baseline
    assert all(
        p["stop_reason"] in ("behind", "answered") and len(p["history"]["train_loss"]) <= k
        for p in result["probes"]
        if p["stop_reason"] != "settled"
    )


def test_a_diverging_lr_is_named_and_proven_by_a_smaller_lr() -> None:
    result = run_job(JobSpec.model_validate(_spec(optimizer="sgd", lr=50.0))).as_json()
    d = result["diagnosis"]
    assert d["primary_cause"] == "lr_too_high", d["summary"]
    top = d["findings"][0]
    assert top["confirmed"] and top["fix"]["training.lr"] < 50.0
    assert any(p["name"].startswith("lr_x0.") and not p["summary"]["diverged"] for p in result["probes"])


def test_should_stop_cancels() -> None:
    with pytest.raises(Cancelled):
        run_job(JobSpec.model_validate(_spec()), should_stop=lambda: True)


def test_cuda_without_a_gpu_is_a_spec_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SpecError) as err:
        run_job(JobSpec.model_validate({**_spec(), "device": "cuda"}))
    assert err.value.loc == ("device",)


def test_diagnose_command_prints_the_job_and_rejects_a_bad_spec(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({**_spec(epochs=3), "probes": ["shuffled_labels"]}))
    out = subprocess.run(
        [sys.executable, "-m", "lossdoctor.diagnose_cli", str(good)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    job = json.loads(out.stdout)
    assert job["status"] == "succeeded" and "diagnosis" in job["result"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**_spec(), "training": {"loss": "cross_entropy", "optimizer": "adamm"}}))
    out = subprocess.run(
        [sys.executable, "-m", "lossdoctor.diagnose_cli", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode == 2 and "training.optimizer" in out.stderr and "adam" in out.stderr
