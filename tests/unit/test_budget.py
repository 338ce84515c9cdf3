"""The budget is kept: runs stop mid-epoch at the deadline, the baseline gets its time first, and
the time per epoch is measured on an injected clock so the tests do not depend on the machine."""

from __future__ import annotations

import numpy as np
import torch

from worker.contract.spec import ModelSpec, TrainingSpec
from worker.engine.batched.train import Member, train_together
from worker.engine.probes.base import ProbeRun
from worker.engine.runner import resume_parked, run_all
from worker.engine.train.loop import CHECK_EVERY_STEPS, RunRecord, train
from worker.engine.train.problem import Problem, make_problem

MLP = ModelSpec.model_validate(
    {"layers": [{"type": "linear", "out_features": 8}, {"type": "relu"}, {"type": "linear", "out_features": 3}]}
)
WIDER = ModelSpec.model_validate(
    {"layers": [{"type": "linear", "out_features": 12}, {"type": "relu"}, {"type": "linear", "out_features": 3}]}
)


def _problem(n: int = 120) -> Problem:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = ((x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5)).astype(np.int64)
    cut = n * 4 // 5
    return make_problem(x[:cut], y[:cut], x[cut:], y[cut:], "cross_entropy", 3, torch.device("cpu"))


def _training(epochs: int, batch_size: int = 16) -> TrainingSpec:
    return TrainingSpec.model_validate(
        {
            "loss": "cross_entropy",
            "optimizer": "adam",
            "lr": 0.01,
            "batch_size": batch_size,
            "epochs": epochs,
            "seed": 1,
        }
    )


class FakeClock:
    """A clock that moves only when told: ``cost(members)`` seconds per epoch trained by a stack of
    ``members`` (a stack of one is cheaper), advanced from the trainers' ``on_epoch``."""

    def __init__(self, stacked: float = 10.0, alone: float = 5.0) -> None:
        self.t, self.stacked, self.alone = 0.0, stacked, alone
        self.epochs: list[int] = []

    def __call__(self) -> float:
        return self.t

    def on_epoch(self, members: int, baseline: RunRecord | None) -> None:
        self.epochs.append(members)
        self.t += self.stacked if members > 1 else self.alone


class StepClock:
    """A clock that moves ``per_look`` seconds each time it is read, so reads inside an epoch move it."""

    def __init__(self, per_look: float) -> None:
        self.t, self.per_look, self.looks = 0.0, per_look, 0

    def __call__(self) -> float:
        self.looks += 1
        self.t += self.per_look
        return self.t


class TwoRateClock(StepClock):
    """A clock that moves ``slow`` seconds a read for its first ``switch_after`` reads, ``fast`` after."""

    def __init__(self, slow: float, fast: float, switch_after: int) -> None:
        super().__init__(slow)
        self.fast, self.switch_after = fast, switch_after

    def __call__(self) -> float:
        if self.looks >= self.switch_after:
            self.per_look = self.fast
        return super().__call__()


def test_the_plain_loop_stops_mid_epoch_and_keeps_the_epochs_completed() -> None:
    p = _problem(2000)  # 1600 samples, batches of 16: 100 steps per epoch
    clock = StepClock(1.0)
    # the deadline falls inside the second epoch: reads at start, epoch top, every few steps, epoch end
    looks_per_epoch = 100 // CHECK_EVERY_STEPS + 2
    rec = train(MLP, _training(5), p, instrumented=True, deadline=looks_per_epoch + 4, clock=clock)
    assert rec.stop_reason == "deadline"
    assert len(rec.train_loss) == len(rec.val_loss) == len(rec.penalty) == 1
    assert len(rec.step_loss) == 100  # the cut epoch's steps are not kept
    assert rec.train_acc is None and rec.fit_share is None  # no final pass after a cut


def test_a_stack_stops_mid_epoch_and_every_member_keeps_its_completed_epochs() -> None:
    p = _problem(2000)
    clock = StepClock(1.0)
    members = [Member(MLP, _training(5), p), Member(MLP, _training(5).model_copy(update={"lr": 0.1}), p)]
    recs, _, parked = train_together(members, instrument_first=True, deadline=100 // CHECK_EVERY_STEPS + 6, clock=clock)
    assert parked is None
    for rec in recs:
        assert rec.stop_reason == "deadline" and len(rec.train_loss) == 1 and rec.train_acc is None


def test_a_run_that_finishes_its_epochs_at_the_deadline_is_completed() -> None:
    clock = FakeClock(stacked=1.0, alone=1.0)
    rec = train(MLP, _training(3), _problem(), instrumented=False, deadline=2.5, clock=clock, on_epoch=clock.on_epoch)
    assert rec.stop_reason == "completed" and len(rec.train_loss) == 3


def _runs(epochs: int) -> list[ProbeRun]:
    t = _training(epochs)
    return [
        ProbeRun(name="baseline", family="baseline", changes={}, model=MLP, training=t),
        ProbeRun(
            name="lr_x0.1",
            family="lr_sweep",
            changes={"training.lr": 0.001},
            model=MLP,
            training=t.model_copy(update={"lr": 0.001}),
        ),
        ProbeRun(
            name="lr_x10",
            family="lr_sweep",
            changes={"training.lr": 0.1},
            model=MLP,
            training=t.model_copy(update={"lr": 0.1}),
        ),
        ProbeRun(name="bigger", family="bigger_model", changes={}, model=WIDER, training=t),
    ]


def test_probes_are_parked_when_the_baselines_epochs_would_not_fit_beside_them() -> None:
    p = _problem()
    clock = FakeClock(stacked=10.0, alone=5.0)
    runs = _runs(6)
    # after epoch 1 (10 s stacked) the baseline's 5 epochs left would take 50 s more: past 55 s
    done, ended = run_all(
        runs,
        p,
        deadline=55.0,
        done=0,
        total=3,
        instrument_first=True,
        settled=lambda rec: len(rec.train_loss) >= 3,
        on_epoch=clock.on_epoch,
        clock=clock,
    )
    base, probes = done[0].record, {o.run.name: o for o in done[1:]}
    assert base.stop_reason == "completed" and len(base.train_loss) == 6  # it got its time first
    assert clock.epochs[:2] == [3, 1]  # then it trained alone
    assert ended.parked is not None and ended.parked.reason == "budget" and ended.parked.epochs == 1
    for name in ("lr_x0.1", "lr_x10"):
        assert probes[name].record.stop_reason == "deadline" and len(probes[name].record.train_loss) == 1
    # parked for the budget, not settled: a later run is capped at the 3 epochs the baseline took to
    # settle (its own history says so), not at the 1 epoch where the probes were parked
    assert len(probes["bigger"].record.train_loss) == 3 and probes["bigger"].record.stop_reason == "settled"
    # clock at 35 + 15 = 50: the parked probes go on until the deadline, and say where they stopped
    assert clock() == 50.0
    later = resume_parked(runs, done[1:], ended.parked, 55.0, on_epoch=clock.on_epoch, clock=clock)
    again = {o.run.name: o.record for o in later}
    for name in ("lr_x0.1", "lr_x10"):
        assert again[name].stop_reason == "deadline" and len(again[name].train_loss) == 2
        whole = train(MLP, runs[[r.name for r in runs].index(name)].training, p, instrumented=False)
        assert np.allclose(again[name].train_loss, whole.train_loss[:2], rtol=1e-4, atol=1e-7)
    # past the deadline nothing more trains
    unchanged = resume_parked(runs, later, ended.parked, 40.0, clock=clock)
    assert all(a.record is b.record for a, b in zip(unchanged, later, strict=True))


def test_probes_stay_beside_the_baseline_when_its_epochs_fit() -> None:
    clock = FakeClock(stacked=10.0, alone=5.0)
    done, ended = run_all(
        _runs(6)[:3],
        _problem(),
        deadline=65.0,
        done=0,
        total=2,
        instrument_first=True,
        on_epoch=clock.on_epoch,
        clock=clock,
    )
    assert ended.parked is None and clock.epochs == [3] * 6
    assert all(o.record.stop_reason == "completed" and len(o.record.train_loss) == 6 for o in done)


def test_an_epoch_too_long_to_share_leaves_the_baseline_alone_within_it() -> None:
    p = _problem(3000)  # 2400 samples in batches of 16: 150 steps an epoch
    t = _training(3)
    runs = [
        ProbeRun(name="baseline", family="baseline", changes={}, model=MLP, training=t),
        ProbeRun(
            name="lr_x10",
            family="lr_sweep",
            changes={"training.lr": 0.1},
            model=MLP,
            training=t.model_copy(update={"lr": 0.1}),
        ),
    ]
    # two seconds a look while the two train together (up to about step 40), one alone: at step 8 of
    # the first epoch, 450 steps at the shared rate would end well past the deadline; alone they fit
    clock = TwoRateClock(slow=2.0, fast=1.0, switch_after=5 + 40 // CHECK_EVERY_STEPS)
    deadline = 6 + 697 / CHECK_EVERY_STEPS
    done, ended = run_all(runs, p, deadline=deadline, done=0, total=1, instrument_first=True, clock=clock)
    base, probe = done[0].record, done[1].record
    assert ended.parked is not None and ended.parked.reason == "budget" and ended.parked.epochs == 0
    assert probe.stop_reason == "deadline" and probe.train_loss == []
    # the baseline went on alone from the middle of its first epoch as if it had trained alone throughout
    assert base.stop_reason == "completed"
    alone = train(MLP, t, p, instrumented=True)
    assert np.allclose(base.train_loss, alone.train_loss, rtol=1e-4, atol=1e-7)
    assert np.allclose(base.step_loss, alone.step_loss, rtol=1e-4, atol=1e-7)
    # parked as it began: resumed, the probe's whole run is its run alone
    later = resume_parked(runs, done[1:], ended.parked, float("inf"))
    whole = train(MLP, runs[1].training, p, instrumented=False)
    assert later[0].record.stop_reason == "completed"
    assert np.allclose(later[0].record.train_loss, whole.train_loss, rtol=1e-4, atol=1e-7)
    assert later[0].record.initial_loss == probe.initial_loss
