"""Runs trained together as a stack give each run's own history, for every optimizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worker.batched.train import Member, continue_members, train_together
from worker.probes.shuffled_labels import shuffle_labels
from worker.probes.standardize_inputs import standardize
from worker.spec import ModelSpec, TrainingSpec
from worker.train.loop import train
from worker.train.problem import make_problem

#: Relative tolerance between a run trained in a stack and alone (float32, a few epochs).
RTOL = 1e-4

MLP = ModelSpec.model_validate({"layers": [{"type": "linear", "out_features": 12}, {"type": "tanh"},
                                          {"type": "linear", "out_features": 12}, {"type": "relu"},
                                          {"type": "linear", "out_features": 3}]})
CNN = ModelSpec.model_validate({"layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
                                          {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
                                          {"type": "flatten"}, {"type": "linear", "out_features": 3}]})


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
    base = TrainingSpec.model_validate({"loss": p.loss, "optimizer": optimizer, "lr": 0.01, "batch_size": 16,
                                        "epochs": 3, "seed": 3, "momentum": 0.5 if optimizer in ("sgd", "rmsprop")
                                        else 0.0, "weight_decay": 0.01})
    other_init = ModelSpec.model_validate({"layers": model.model_dump()["layers"],
                                           "init": {"weight": "normal", "std": 0.3, "bias": "zeros"}})
    return [Member(model, base, p),
            Member(model, base.model_copy(update={"lr": 0.003}), p),
            Member(model, base, shuffle_labels(p)),
            Member(model, base, standardize(p)),
            Member(model, base.model_copy(update={"l2": 0.01, "l1": 0.001}), p),
            Member(model, base.model_copy(update={"grad_clip_norm": 0.1}), p),
            Member(other_init, base, p),
            Member(model, base.model_copy(update={"seed": 7}), p),
            Member(model, base.model_copy(update={"momentum": 0.0, "weight_decay": 0.0}), p)]


def _assert_same(stacked, alone) -> None:
    for key in ("train_loss", "val_loss", "penalty"):
        a, b = np.array(getattr(stacked, key), float), np.array(getattr(alone, key), float)
        assert np.allclose(a, b, rtol=RTOL, atol=1e-7), (key, a, b)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_each_member_of_a_stack_trains_as_it_would_alone(optimizer: str) -> None:
    p = _problem()
    members = _members(MLP, optimizer, p)
    stacked, _ = train_together(members, instrument_first=True)
    for member, rec in zip(members, stacked, strict=True):
        _assert_same(rec, train(member.model, member.training, member.problem, instrumented=False))
    alone = train(members[0].model, members[0].training, p, instrumented=True)
    assert np.allclose(stacked[0].layers[0]["grad_norm"], alone.layers[0]["grad_norm"], rtol=RTOL)
    assert stacked[0].instruments["dead_fraction"] == alone.instruments["dead_fraction"]


def test_conv_stack_and_regression_loss_match_alone() -> None:
    for model, p in ((CNN, _problem(image=True)), (MLP, _problem(loss="mse"))):
        members = _members(model, "adam", p)[:4] if p.loss == "cross_entropy" else [
            m for i, m in enumerate(_members(model, "adam", p)) if i != 2]
        stacked, _ = train_together(members)
        for member, rec in zip(members, stacked, strict=True):
            _assert_same(rec, train(member.model, member.training, member.problem, instrumented=False))


def test_a_diverging_member_leaves_the_others_untouched() -> None:
    p = _problem()
    members = _members(MLP, "sgd", p)[:2]
    wild = Member(MLP, members[0].training.model_copy(update={"lr": 1e6}), p)
    stacked, _ = train_together([members[0], wild, members[1]])
    assert stacked[1].stop_reason == "non_finite"
    _assert_same(stacked[0], train(MLP, members[0].training, p, instrumented=False))
    _assert_same(stacked[2], train(MLP, members[1].training, p, instrumented=False))


def test_a_member_continued_from_a_stack_equals_training_it_longer() -> None:
    p = _problem()
    members = _members(MLP, "adam", p)[:3]
    first, state = train_together(members, keep_state=True)
    assert state is not None
    more_t = members[0].training.model_copy(update={"epochs": 2})
    sub = continue_members(state, [0], more_t)
    more, _ = train_together(sub.members, start=sub)
    whole = train(MLP, members[0].training.model_copy(update={"epochs": 5}), p, instrumented=False)
    assert np.allclose(first[0].train_loss + more[0].train_loss, whole.train_loss, rtol=RTOL)
