"""Probes against facts true by construction, and the registry against the contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from worker.contract.spec import PROBE_NAMES, JobSpec, ModelSpec, TrainingSpec
from worker.engine.checks import CHECKS
from worker.engine.probes import PROBES, ProbeContext
from worker.engine.probes.shuffled_labels import shuffle_labels
from worker.engine.probes.standardize_inputs import standardize
from worker.engine.train.loop import train
from worker.engine.train.problem import make_problem


def _spec(**training) -> JobSpec:
    t = {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01, "batch_size": 16, "epochs": 5, "seed": 0}
    t.update(training)
    return JobSpec.model_validate(
        {
            "data": {"source": "synthetic", "name": "blobs", "n_samples": 120, "n_features": 4, "n_classes": 3},
            "model": {
                "layers": [
                    {"type": "linear", "out_features": 16},
                    {"type": "sigmoid"},
                    {"type": "linear", "out_features": 3},
                    {"type": "softmax"},
                ]
            },
            "training": t,
        }
    )


def _problem(scale: float = 1.0):
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(120, 4)) * scale + 3 * scale).astype(np.float32)
    y = rng.integers(0, 3, size=120)
    return make_problem(x[:96], y[:96], x[96:], y[96:], "cross_entropy", 3, torch.device("cpu"))


def _ctx(spec: JobSpec, problem) -> ProbeContext:
    checks = {n: c(spec, problem.x_train.numpy(), problem.y_train.numpy()) for n, c in CHECKS.items()}
    return ProbeContext(spec=spec, problem=problem, checks=checks)


def test_registry_holds_exactly_the_contract_probe_names() -> None:
    assert list(PROBES) == list(PROBE_NAMES)
    assert all(p.name == name for name, p in PROBES.items())


def test_a_wide_mlp_overfits_one_batch() -> None:
    spec = JobSpec.model_validate(
        {
            "data": {"source": "synthetic", "name": "blobs"},
            "model": {
                "layers": [
                    {"type": "linear", "out_features": 128},
                    {"type": "relu"},
                    {"type": "linear", "out_features": 3},
                ]
            },
            "training": {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.01},
        }
    )
    p = _problem()
    run = PROBES["overfit_batch"].plan(_ctx(spec, p))[0]
    rec = train(run.model, run.training, run.data(p), instrumented=False)
    assert rec.train_loss[-1] < 0.2 * rec.train_loss[0]  # random labels, but only 16 of them


def test_one_batch_is_memorized_only_while_the_labels_might_be_unlearnable() -> None:
    ctx = _ctx(_spec(), _problem())
    ctx.verdict.signal = False
    assert PROBES["overfit_batch"].applies(ctx)
    ctx.verdict.signal = True
    assert not PROBES["overfit_batch"].applies(ctx)


def test_shuffled_labels_keep_the_label_counts_and_stay_near_chance() -> None:
    p = _problem()
    s = shuffle_labels(p)
    assert torch.equal(torch.bincount(s.y_train), torch.bincount(p.y_train)) and not torch.equal(s.y_train, p.y_train)
    spec = JobSpec.model_validate(
        {
            "data": {"source": "synthetic", "name": "blobs"},
            "model": {"layers": [{"type": "linear", "out_features": 3}]},
            "training": {"loss": "cross_entropy", "lr": 0.01, "epochs": 5},
        }
    )
    rec = train(spec.model, spec.training, s, instrumented=False)
    assert rec.val_loss[-1] > 0.9 * s.val_chance


def test_standardized_inputs_have_zero_mean_unit_std() -> None:
    s = standardize(_problem(scale=1000.0))
    assert torch.allclose(s.x_train.mean(0), torch.zeros(4), atol=1e-3)
    assert torch.allclose(s.x_train.std(0, unbiased=False), torch.ones(4), atol=1e-3)


def test_each_probe_changes_one_thing() -> None:
    spec = _spec(l2=0.5)
    ctx = _ctx(spec, _problem())
    fix = PROBES["fix_output"].plan(ctx)[0]
    assert [layer.type for layer in fix.model.layers] == ["linear", "sigmoid", "linear"]
    assert fix.training == spec.training
    relu = PROBES["relu_activation"].plan(ctx)[0]
    assert [layer.type for layer in relu.model.layers] == ["linear", "relu", "linear", "softmax"]
    noreg = PROBES["no_regularization"].plan(ctx)[0]
    assert noreg.training.l2 == 0 and noreg.model == spec.model
    lr = PROBES["lr_sweep"].plan(ctx)
    assert sorted(r.training.lr for r in lr) == pytest.approx([1e-5, 1e-4, 1e-3, 3e-3, 0.03, 0.1, 1.0, 10.0])
    assert all(r.model == spec.model for r in lr)


def test_bigger_model_adds_capacity() -> None:
    spec = JobSpec.model_validate(
        {
            "data": {"source": "synthetic", "name": "blobs"},
            "model": {"layers": [{"type": "linear", "out_features": 3}]},
            "training": {"loss": "cross_entropy"},
        }
    )
    run = PROBES["bigger_model"].plan(_ctx(spec, _problem()))[0]
    assert [layer.type for layer in run.model.layers] == ["linear", "relu", "linear", "relu", "linear"]
    wide = ModelSpec.model_validate(
        {"layers": [{"type": "linear", "out_features": 8}, {"type": "relu"}, {"type": "linear", "out_features": 3}]}
    )
    run = PROBES["bigger_model"].plan(_ctx(spec.model_copy(update={"model": wide}), _problem()))[0]
    # 4x of 8 is 32, but a widened layer gets at least 64 units: 4x of a tiny layer is still tiny
    assert run.model.layers[0].out_features == 64 and run.model.layers[2].out_features == 3


def test_lr_sweep_walks_on_while_it_helps() -> None:
    spec = _spec(optimizer="sgd", lr=1e-5)
    p = _problem()
    ctx = _ctx(spec, p)
    ctx.verdict.score, ctx.verdict.moved = 1.0, False
    runs = [r for r in PROBES["lr_sweep"].plan(ctx) if r.training.lr > 1e-5]
    from worker.engine.probes.base import ProbeOutcome

    outcomes = [ProbeOutcome(r, train(r.model, r.training, p, instrumented=False)) for r in runs]
    more = PROBES["lr_sweep"].follow_up(ctx, outcomes)
    assert [r.training.lr for r in more] in ([pytest.approx(1e-5 * 1e4)], [])
    assert TrainingSpec.model_validate({"loss": "mse"}).lr == 1e-3


def _outcome(family: str, train_loss: list[float], changes: dict | None = None):
    from worker.engine.probes import ProbeOutcome, ProbeRun
    from worker.engine.train.loop import RunRecord

    spec = _spec()
    run = ProbeRun(name=family, family=family, changes=changes or {}, model=spec.model, training=spec.training)
    return ProbeOutcome(
        run, RunRecord(initial_loss=1.1, initial_val_loss=1.1, train_loss=train_loss, val_loss=train_loss)
    )


def test_combination_pairs_what_the_evidence_points_to_once_no_single_change_trained() -> None:
    spec = _spec().model_copy(
        update={
            "model": ModelSpec.model_validate(
                {
                    "layers": [
                        {"type": "linear", "out_features": 16},
                        {"type": "relu"},
                        {"type": "linear", "out_features": 3},
                    ],
                    "init": {"weight": "normal", "std": 5.0},
                }
            )
        }
    )
    ctx = _ctx(spec, _problem(scale=1e4))  # unscaled inputs and a custom init
    ctx.verdict.score = 1.0
    assert ctx.checks["input_scale"].flagged
    stalled = [
        _outcome("standard_init", [1.1, 1.1]),
        _outcome("standardize_inputs", [1.1, 1.0]),
        _outcome("lr_sweep", [1.1, 0.9], {"training.lr": 0.001}),
    ]
    runs = PROBES["combination"].follow_up(ctx, stalled)
    combos = [tuple(r.changes["combines"]) for r in runs]
    assert ("standardize_inputs", "standard_init") in combos and 1 <= len(runs) <= 4
    init_and_lr = next(r for r in runs if r.changes["combines"] == ["standard_init", "lr_sweep"])
    assert init_and_lr.training.lr == 0.001 and init_and_lr.model.init is None  # the sweep's best lr
    assert all(r.family == "combination" for r in runs)
    # once planned, or when a single change trained the run, nothing more
    assert PROBES["combination"].follow_up(ctx, stalled + [_outcome("combination", [1.0, 0.1])]) == []
    assert PROBES["combination"].follow_up(ctx, [*stalled, _outcome("lr_sweep", [1.1, 0.05])]) == []
