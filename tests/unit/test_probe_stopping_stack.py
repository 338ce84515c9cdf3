"""In a stack, a judged probe that clearly does not recover stops early with its own history."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.test_batched import MLP, RTOL, _problem
from worker.contract.spec import JobSpec, TrainingSpec
from worker.engine.batched.train import Member, StackedTraining, continue_members, train_together
from worker.engine.probes.scoring import JUDGE_MIN_EPOCHS
from worker.engine.train.loop import train

#: Iris with SGD at an lr far too low: 12 epochs, so probes have a curve to be judged on.
IRIS_LR_LOW = {
    "data": {"source": "builtin", "name": "iris"},
    "model": {
        "layers": [{"type": "linear", "out_features": 16}, {"type": "relu"}, {"type": "linear", "out_features": 3}]
    },
    "training": {"loss": "cross_entropy", "optimizer": "sgd", "lr": 1e-4, "epochs": 12, "batch_size": 16},
    "budget_seconds": 60,
}


def _training(lr: float, epochs: int = 12, batch_size: int = 16) -> TrainingSpec:
    return TrainingSpec.model_validate(
        {"loss": "cross_entropy", "optimizer": "adam", "lr": lr, "batch_size": batch_size, "epochs": epochs, "seed": 3}
    )


def test_a_judged_probe_behind_the_baseline_stops_and_continues_as_if_never_stopped() -> None:
    p = _problem()
    base = _training(0.01)
    slow = _training(1e-6)
    members = [
        Member(MLP, base, p),
        Member(MLP, slow, p, judged=True),
        Member(MLP, slow, p),  # the same run, not judged: trains to its end
        Member(MLP, _training(0.03), p, judged=True),
    ]
    run = StackedTraining(members, instrument_first=True)
    recs, _, parked = run.run()
    assert parked is None
    assert len(recs[0].train_loss) == 12 and recs[0].stop_reason == "completed"
    assert recs[2].stop_reason == "completed" and len(recs[2].train_loss) == 12
    stopped = recs[1]
    assert stopped.stop_reason == "behind" and JUDGE_MIN_EPOCHS <= len(stopped.train_loss) < 12
    whole = train(MLP, slow, p, instrumented=False)
    k = len(stopped.train_loss)
    assert np.allclose(stopped.train_loss, whole.train_loss[:k], rtol=RTOL, atol=1e-7)
    assert np.allclose(recs[0].train_loss, train(MLP, base, p, instrumented=False).train_loss, rtol=RTOL)
    # what stopped is kept, and continued it ends where the whole run ends
    entry = next(e for e in run.behind if 1 in e.which)
    assert entry.reason == "behind" and entry.epochs == k
    state = continue_members(entry.state, [entry.which.index(1)], 12 - k)
    more, _, _ = train_together(state.members, start=state)
    assert np.allclose(stopped.train_loss + more[0].train_loss, whole.train_loss, rtol=RTOL, atol=1e-7)


def test_a_stack_after_the_baseline_is_judged_against_its_whole_record() -> None:
    p = _problem()
    reference = train(MLP, _training(0.01), p, instrumented=False)
    members = [Member(MLP, _training(1e-6), p, judged=True), Member(MLP, _training(1e-6, 12), p)]
    run = StackedTraining(members, reference=reference)
    recs, _, _ = run.run()
    assert recs[0].stop_reason == "behind" and len(recs[0].train_loss) < 12
    assert recs[1].stop_reason == "completed" and len(recs[1].train_loss) == 12


def test_a_diagnosis_says_which_probes_stopped_behind_and_keeps_its_verdict() -> None:
    from worker.engine.job import run_job

    result = run_job(JobSpec.model_validate(IRIS_LR_LOW)).as_json()
    reasons = {p["name"]: p["stop_reason"] for p in result["probes"]}
    behind = [name for name, why in reasons.items() if why == "behind"]
    assert behind, reasons
    assert result["timing"]["probes_stopped_behind"] == len(behind)
    notes = result["diagnosis"]["notes"]
    assert any(
        n.startswith(f"{len(behind)} probes stopped clearly behind the baseline at the same step") for n in notes
    )
    for probe in result["probes"]:
        if probe["stop_reason"] == "behind":
            assert JUDGE_MIN_EPOCHS <= probe["summary"]["epochs_run"] < 12
    # lr far too low: a larger lr recovers it, on a probe trained to its end
    assert result["diagnosis"]["primary_cause"] == "lr_too_low"
    fixes = [p for p in result["probes"] if p["family"] == "lr_sweep" and p["changes"]["training.lr"] > 1e-4]
    assert any(p["stop_reason"] == "completed" for p in fixes)


def test_probes_stopped_beside_a_baseline_that_ended_worse_train_on_to_their_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import worker.engine.job as job

    asked: list[int] = []

    def rose(baseline: list[float | None], epochs: int, chance: float | None) -> bool:
        asked.append(epochs)
        return True  # as if the baseline ended worse than it was where each probe stopped

    monkeypatch.setattr(job, "rose_after", rose)
    result = job.run_job(JobSpec.model_validate(IRIS_LR_LOW)).as_json()
    assert asked, "no probe stopped behind the baseline"
    phase1 = [p for p in result["probes"] if p["family"] in ("lr_sweep", "standard_init", "no_regularization")]
    assert phase1 and all(p["stop_reason"] != "behind" for p in phase1)
    assert all(p["summary"]["epochs_run"] == 12 for p in phase1 if p["stop_reason"] == "completed")
