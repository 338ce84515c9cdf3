"""A judged probe stops within an epoch once it is clearly behind the baseline at the same step."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.unit.test_batched import MLP, RTOL, _problem
from tests.unit.test_probe_stopping_stack import _training as stopping_training
from worker.contract.spec import JobSpec, TrainingSpec
from worker.engine.batched.train import Member, StackedTraining
from worker.engine.train.loop import train
from worker.engine.train.windows import windows_per_epoch

#: Digits, a small MLP, 4 epochs of 90 steps: judged in windows of 18 steps.
DIGITS = {
    "data": {"source": "builtin", "name": "digits"},
    "model": {
        "layers": [{"type": "linear", "out_features": 32}, {"type": "relu"}, {"type": "linear", "out_features": 10}]
    },
    "training": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.003, "epochs": 4, "batch_size": 16},
    "budget_seconds": 60,
}


def _training(lr: float) -> TrainingSpec:
    # 96 samples in batches of 2: 48 steps an epoch, three windows of 16
    return stopping_training(lr, epochs=4, batch_size=2)


def test_windows_are_recorded_alike_stacked_and_alone() -> None:
    p = _problem()
    t = _training(0.01)
    assert windows_per_epoch(4, 48) == 3
    alone = train(MLP, t, p, instrumented=False)
    (stacked,), _, _ = StackedTraining([Member(MLP, t, p)]).run()
    for rec in (alone, stacked):
        assert len(rec.window_loss) == 12 and rec.window_ends == [16 * (i + 1) for i in range(12)]
        assert rec.steps_run == 4 * 48
        # an epoch's three windows of 16 steps average to its train loss
        means = [float(np.mean(rec.window_loss[3 * e : 3 * e + 3])) for e in range(4)]
        assert np.allclose(means, rec.train_loss, rtol=1e-5)
    assert np.allclose(alone.window_loss, stacked.window_loss, rtol=RTOL)


def test_a_judged_probe_clearly_behind_stops_within_an_epoch_with_its_own_history() -> None:
    p = _problem()
    base, slow = _training(0.01), _training(1e-6)
    members = [Member(MLP, base, p), Member(MLP, slow, p, judged=True), Member(MLP, slow, p)]
    run = StackedTraining(members, instrument_first=True)
    recs, _, _ = run.run()
    assert recs[0].stop_reason == "completed" and recs[2].stop_reason == "completed"
    stopped = recs[1]
    assert stopped.stop_reason == "behind"
    assert stopped.steps_run % 48 != 0 and stopped.steps_run < 4 * 48  # within an epoch
    assert len(stopped.train_loss) == -(-stopped.steps_run // 48)  # its last epoch is the part it trained
    (entry,) = run.dropped
    assert entry == (1, len(stopped.window_loss))
    whole = train(MLP, slow, p, instrumented=False)
    k = len(stopped.window_loss)
    assert np.allclose(stopped.window_loss, whole.window_loss[:k], rtol=RTOL, atol=1e-7)
    assert np.allclose(stopped.train_loss[:-1], whole.train_loss[: len(stopped.train_loss) - 1], rtol=RTOL)
    # the baseline beside it trained as it would alone
    assert np.allclose(recs[0].train_loss, train(MLP, base, p, instrumented=False).train_loss, rtol=RTOL)
    assert recs[0].steps_run == 4 * 48


def test_a_stack_whose_members_all_stop_within_an_epoch_ends_there() -> None:
    p = _problem()
    reference = train(MLP, _training(0.01), p, instrumented=False)
    run = StackedTraining(
        [Member(MLP, _training(1e-6), p, judged=True), Member(MLP, _training(2e-6), p, judged=True)],
        reference=reference,
    )
    recs, _, _ = run.run()
    assert all(r.stop_reason == "behind" and r.steps_run < 4 * 48 for r in recs)
    assert sorted(k for k, _ in run.dropped) == [0, 1]


def test_a_diagnosis_judges_probes_within_epochs_and_trains_again_those_the_baseline_later_rose_above(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import worker.engine.job as job

    result = job.run_job(JobSpec.model_validate(DIGITS)).as_json()
    within = [p for p in result["probes"] if p["stop_reason"] == "behind" and p["summary"]["steps_run"] % 90]
    assert within, [(p["name"], p["stop_reason"], p["summary"]["steps_run"]) for p in result["probes"]]

    events: list[dict[str, Any]] = []
    monkeypatch.setattr(job, "rose_after", lambda baseline, windows, chance: True)
    again = job.run_job(JobSpec.model_validate(DIGITS), on_event=events.append).as_json()
    started = [e["probe"] for e in events if e["type"] == "probe_started"]
    twice = {name for name in started if started.count(name) == 2}
    assert twice, started
    # trained again from the start against the baseline's whole record, each in the result once
    names = [p["name"] for p in again["probes"]]
    assert sorted(names) == sorted(p["name"] for p in result["probes"]) and len(set(names)) == len(names)
