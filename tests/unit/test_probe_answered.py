"""A probe whose question the baseline's signal answers (shuffled labels) stops once the baseline
beside it shows signal, and trains on to its end when the baseline ends without it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tests.unit.test_batched import MLP, RTOL, _problem
from tests.unit.test_probe_stopping_stack import IRIS_LR_LOW, _training
from worker.contract.spec import JobSpec
from worker.diagnosis.record import RunRecord
from worker.engine.batched.train import Member, StackedTraining, continue_members, train_together
from worker.engine.train.loop import train

#: Iris, a small MLP that learns it well within a few of its 12 epochs, but not to a perfect fit
#: at once (so the baseline shows signal before its verdict is settled).
IRIS = {**IRIS_LR_LOW, "training": {**IRIS_LR_LOW["training"], "lr": 0.02}}


def _after(epochs: int) -> Any:
    """A stand-in for "shows signal": true once the record holds ``epochs`` epochs."""
    return lambda rec: len(rec.train_loss) >= epochs


def test_a_probe_stops_once_the_baseline_beside_it_shows_signal_and_continues_as_if_never_stopped() -> None:
    p = _problem()
    base, other = _training(0.01), _training(0.003)
    members = [Member(MLP, base, p), Member(MLP, other, p, until_signal=True), Member(MLP, other, p)]
    run = StackedTraining(members, instrument_first=True, signal=_after(2))
    recs, _, parked = run.run()
    assert parked is None
    assert recs[0].stop_reason == "completed" and len(recs[0].train_loss) == 12
    assert recs[2].stop_reason == "completed" and len(recs[2].train_loss) == 12
    assert recs[1].stop_reason == "answered" and len(recs[1].train_loss) == 2
    whole = train(MLP, other, p, instrumented=False)
    assert np.allclose(recs[1].train_loss, whole.train_loss[:2], rtol=RTOL, atol=1e-7)
    (entry,) = run.answered
    assert entry.reason == "answered" and entry.epochs == 2 and entry.which == [1]
    state = continue_members(entry.state, [0], 10)
    more, _, _ = train_together(state.members, start=state)
    assert np.allclose(recs[1].train_loss + more[0].train_loss, whole.train_loss, rtol=RTOL, atol=1e-7)


def test_without_the_question_asked_or_without_signal_the_probe_trains_to_its_end() -> None:
    p = _problem()
    members = [Member(MLP, _training(0.01), p), Member(MLP, _training(0.003), p, until_signal=True)]
    for signal in (None, lambda rec: False):
        recs, _, _ = StackedTraining(members, instrument_first=True, signal=signal).run()
        assert recs[1].stop_reason == "completed" and len(recs[1].train_loss) == 12
    # a stack without the baseline in it has nobody to show signal
    recs, _, _ = StackedTraining(members[1:], signal=_after(1)).run()
    assert recs[0].stop_reason == "completed" and len(recs[0].train_loss) == 12


def test_a_diagnosis_stops_shuffled_labels_once_the_baseline_shows_signal() -> None:
    from worker.engine.job import run_job

    result = run_job(JobSpec.model_validate(IRIS)).as_json()
    (shuffled,) = [p for p in result["probes"] if p["family"] == "shuffled_labels"]
    assert shuffled["stop_reason"] == "answered", shuffled["stop_reason"]
    assert 1 <= shuffled["summary"]["epochs_run"] < 12
    assert result["diagnosis"]["healthy"] is True
    assert result["timing"]["probes_stopped_answered"] == 1
    said = f"{shuffled['name']} stopped after {shuffled['summary']['steps_run']} steps: the baseline showed signal"
    assert any(note.startswith(said) for note in result["diagnosis"]["notes"]), result["diagnosis"]["notes"]


def test_shuffled_labels_train_on_when_the_baseline_ends_without_signal(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.engine.job as job

    real = job.shows_signal
    ended_without: list[int] = []

    def shows(ev: Any, run: RunRecord) -> bool:
        # as the real test during training; the whole baseline (12 epochs) shows none
        if len(run.train_loss) == 12:
            ended_without.append(1)
            return False
        return real(ev, run)

    monkeypatch.setattr(job, "shows_signal", shows)
    result = job.run_job(JobSpec.model_validate(IRIS)).as_json()
    assert ended_without
    (shuffled,) = [p for p in result["probes"] if p["family"] == "shuffled_labels"]
    assert shuffled["stop_reason"] == "completed" and shuffled["summary"]["epochs_run"] == 12
