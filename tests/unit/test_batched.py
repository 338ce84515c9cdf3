"""Runs trained together as a stack give each run's own history, for every optimizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worker.contract.spec import ModelSpec, TrainingSpec
from worker.engine.batched.train import Member, continue_members, train_together
from worker.engine.probes.shuffled_labels import shuffle_labels
from worker.engine.probes.standardize_inputs import standardize
from worker.engine.train.loop import train
from worker.engine.train.problem import make_problem

#: Relative tolerance between a run trained in a stack and alone (float32, a few epochs).
RTOL = 1e-4

MLP = ModelSpec.model_validate(
    {
        "layers": [
            {"type": "linear", "out_features": 12},
            {"type": "tanh"},
            {"type": "linear", "out_features": 12},
            {"type": "relu"},
            {"type": "linear", "out_features": 3},
        ]
    }
)
CNN = ModelSpec.model_validate(
    {
        "layers": [
            {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
            {"type": "relu"},
            {"type": "maxpool2d", "kernel_size": 2},
            {"type": "flatten"},
            {"type": "linear", "out_features": 3},
        ]
    }
)


def _problem(image: bool = False, loss: str = "cross_entropy"):
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(120, 16)) * 3 + 1).astype(np.float32)
    y = ((x[:, 0] + x[:, 1] > 2).astype(np.int64) + (x[:, 2] > 1)).astype(np.int64)
    if loss == "mse":
        y = (x[:, :3] * [1.0, -2.0, 0.5]).astype(np.float32)
    if image:
        x = x.reshape(-1, 1, 4, 4)
    return make_problem(x[:96], y[:96], x[96:], y[96:], loss, 3, torch.device("cpu"))


def _members(model: ModelSpec, optimizer: str, p) -> list[Member]:
    base = TrainingSpec.model_validate(
        {
            "loss": p.loss,
            "optimizer": optimizer,
            "lr": 0.01,
            "batch_size": 16,
            "epochs": 3,
            "seed": 3,
            "momentum": 0.5 if optimizer in ("sgd", "rmsprop") else 0.0,
            "weight_decay": 0.01,
        }
    )
    other_init = ModelSpec.model_validate(
        {"layers": model.model_dump()["layers"], "init": {"weight": "normal", "std": 0.3, "bias": "zeros"}}
    )
    return [
        Member(model, base, p),
        Member(model, base.model_copy(update={"lr": 0.003}), p),
        Member(model, base, shuffle_labels(p)),
        Member(model, base, standardize(p)),
        Member(model, base.model_copy(update={"l2": 0.01, "l1": 0.001}), p),
        Member(model, base.model_copy(update={"grad_clip_norm": 0.1}), p),
        Member(other_init, base, p),
        Member(model, base.model_copy(update={"seed": 7}), p),
        Member(model, base.model_copy(update={"momentum": 0.0, "weight_decay": 0.0}), p),
    ]


def _assert_same(stacked, alone) -> None:
    for key in ("train_loss", "val_loss", "penalty"):
        a, b = np.array(getattr(stacked, key), float), np.array(getattr(alone, key), float)
        assert np.allclose(a, b, rtol=RTOL, atol=1e-7), (key, a, b)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_each_member_of_a_stack_trains_as_it_would_alone(optimizer: str) -> None:
    p = _problem()
    members = _members(MLP, optimizer, p)
    stacked, _, _ = train_together(members, instrument_first=True)
    for member, rec in zip(members, stacked, strict=True):
        _assert_same(rec, train(member.model, member.training, member.problem, instrumented=False))
    alone = train(members[0].model, members[0].training, p, instrumented=True)
    assert np.allclose(stacked[0].layers[0].grad_norm, alone.layers[0].grad_norm, rtol=RTOL)
    assert stacked[0].dead_fraction == alone.dead_fraction


def test_conv_stack_and_regression_loss_match_alone() -> None:
    for model, p in ((CNN, _problem(image=True)), (MLP, _problem(loss="mse"))):
        members = (
            _members(model, "adam", p)[:4]
            if p.loss == "cross_entropy"
            else [m for i, m in enumerate(_members(model, "adam", p)) if i != 2]
        )
        stacked, _, _ = train_together(members)
        for member, rec in zip(members, stacked, strict=True):
            _assert_same(rec, train(member.model, member.training, member.problem, instrumented=False))


def test_a_diverging_member_leaves_the_others_untouched() -> None:
    p = _problem()
    members = _members(MLP, "sgd", p)[:2]
    wild = Member(MLP, members[0].training.model_copy(update={"lr": 1e6}), p)
    stacked, _, _ = train_together([members[0], wild, members[1]])
    assert stacked[1].stop_reason == "non_finite"
    _assert_same(stacked[0], train(MLP, members[0].training, p, instrumented=False))
    _assert_same(stacked[2], train(MLP, members[1].training, p, instrumented=False))


def test_a_member_continued_from_a_stack_equals_training_it_longer() -> None:
    p = _problem()
    members = _members(MLP, "adam", p)[:3]
    first, state, _ = train_together(members, keep_state=True)
    assert state is not None
    sub = continue_members(state, [0], 2)
    more, _, _ = train_together(sub.members, start=sub)
    whole = train(MLP, members[0].training.model_copy(update={"epochs": 5}), p, instrumented=False)
    assert np.allclose(first[0].train_loss + more[0].train_loss, whole.train_loss, rtol=RTOL)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_members_parked_when_settled_continue_as_if_never_stopped(optimizer: str) -> None:
    p = _problem()
    members = [
        Member(m.model, m.training.model_copy(update={"epochs": 5}), m.problem) for m in _members(MLP, optimizer, p)
    ]
    asked: list[int] = []

    def settled(rec) -> bool:
        asked.append(len(rec.train_loss))
        return len(rec.train_loss) == 2

    recs, _, parked = train_together(members, instrument_first=True, settled=settled)
    assert parked is not None and parked.epochs == 2 and parked.which == list(range(1, len(members)))
    # the first member trains on to the end, as it would alone; the others stopped at 2 epochs
    assert len(recs[0].train_loss) == 5 and recs[0].stop_reason == "completed"
    _assert_same(recs[0], train(MLP, members[0].training, p, instrumented=False))
    assert asked[:2] == [1, 2] and all(len(r.train_loss) == 2 and r.stop_reason == "settled" for r in recs[1:])
    for k in (1, 4, 5):
        _assert_same(
            recs[k],
            train(
                members[k].model,
                members[k].training.model_copy(update={"epochs": 2}),
                members[k].problem,
                instrumented=False,
            ),
        )
    # continued, every parked member ends where its whole run ends, with its own settings
    state = continue_members(parked.state, list(range(len(parked.which))), 3)
    more, _, _ = train_together(state.members, start=state)
    for j, k in enumerate(parked.which):
        whole = train(members[k].model, members[k].training, members[k].problem, instrumented=False)
        joined = recs[k].train_loss + more[j].train_loss
        assert np.allclose(joined, whole.train_loss, rtol=RTOL, atol=1e-7), (k, joined, whole.train_loss)


def test_parked_probes_are_trained_on_when_the_baseline_unsettles() -> None:
    from worker.engine.probes.base import ProbeRun
    from worker.engine.runner import resume_parked, run_all

    p = _problem()
    members = _members(MLP, "adam", p)
    t = members[0].training.model_copy(update={"epochs": 4})
    runs = [ProbeRun(name="baseline", family="baseline", changes={}, model=MLP, training=t)]
    runs += [
        ProbeRun(
            name=f"lr_{lr:g}",
            family="lr_sweep",
            changes={"training.lr": lr},
            model=MLP,
            training=t.model_copy(update={"lr": lr}),
        )
        for lr in (0.001, 0.1)
    ]
    # a run that cannot join the baseline's stack (other epochs), planned between two that do
    runs += [
        ProbeRun(
            name="shorter",
            family="more_steps",
            changes={"training.epochs": 3},
            model=MLP,
            training=t.model_copy(update={"epochs": 3}),
        )
    ]
    runs += [
        ProbeRun(
            name="no_regularization",
            family="no_regularization",
            changes={"training.l2": 0.0},
            model=MLP,
            training=t.model_copy(update={"l2": 0.0, "weight_decay": 0.0}),
        )
    ]
    # settled after 2 epochs, but no longer at the end: what stopped must train on
    done, ended = run_all(
        runs,
        p,
        deadline=float("inf"),
        done=0,
        total=4,
        instrument_first=True,
        settled=lambda rec: len(rec.train_loss) == 2,
    )
    assert ended.parked is not None and ended.parked.epochs == 2 and ended.parked.which == [1, 2, 4]
    parked = [o for o in done[1:] if o.run.name != "shorter"]
    assert all(o.record.stop_reason == "settled" and len(o.record.train_loss) == 2 for o in parked)
    assert [o.record.stop_reason for o in done if o.run.name == "shorter"] == ["completed"]
    full = resume_parked(runs, done[1:], ended.parked, float("inf"))
    for outcome, run in zip(full, runs[1:], strict=True):
        whole = train(run.model, run.training, p, instrumented=False)
        assert outcome.run is run and outcome.record.stop_reason == "completed"
        assert np.allclose(outcome.record.train_loss, whole.train_loss, rtol=RTOL, atol=1e-7)


def test_batches_gathered_a_few_at_a_time_give_the_same_histories(monkeypatch: pytest.MonkeyPatch) -> None:
    import worker.engine.batched.train as together

    p = _problem()
    members = _members(MLP, "adam", p)[:4]
    whole, _, _ = train_together(members)
    monkeypatch.setattr(together, "GATHER_BYTES", 1)  # one batch per gather
    few, _, _ = train_together(members)
    for a, b in zip(whole, few, strict=True):
        assert a.train_loss == b.train_loss and a.val_loss == b.val_loss
    _assert_same(few[1], train(MLP, members[1].training, p, instrumented=False))


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_members_sharing_one_lr_train_as_they_would_alone(optimizer: str) -> None:
    p = _problem()
    members = [m for m in _members(MLP, optimizer, p) if m.training.lr == 0.01][:4]
    stacked, _, _ = train_together(members)
    for rec, m in zip(stacked, members, strict=True):
        _assert_same(rec, train(m.model, m.training, m.problem, instrumented=False))


def test_an_instrumented_first_member_that_diverges_leaves_and_the_others_go_on() -> None:
    p = _problem()
    members = _members(MLP, "sgd", p)[:2]
    wild = Member(MLP, members[0].training.model_copy(update={"lr": 1e6}), p)
    stacked, _, parked = train_together([wild, *members], instrument_first=True, settled=lambda rec: True)
    assert parked is None  # a non-finite baseline settles nothing
    assert stacked[0].stop_reason == "non_finite" and stacked[0].step_grad_norm and stacked[0].layers
    for rec, m in zip(stacked[1:], members, strict=True):
        assert rec.stop_reason == "completed"
        _assert_same(rec, train(MLP, m.training, p, instrumented=False))
