"""The training loop against facts that hold by construction and a plain reference loop."""

from __future__ import annotations

import math

import numpy as np
import torch

from worker.contract.spec import ModelSpec, TrainingSpec
from worker.engine.train.loop import train
from worker.engine.train.problem import make_problem

MLP = ModelSpec.model_validate(
    {"layers": [{"type": "linear", "out_features": 16}, {"type": "relu"}, {"type": "linear", "out_features": 3}]}
)


def _problem(n: int = 96, loss: str = "cross_entropy", nan: bool = False):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0.5).astype(np.int64)
    if nan:
        x[3, 2] = np.nan
    k = n * 3 // 4
    return make_problem(x[:k], y[:k], x[k:], y[k:], loss, 3, torch.device("cpu"))


def _training(**kw) -> TrainingSpec:
    base = {"loss": "cross_entropy", "optimizer": "sgd", "lr": 0.1, "batch_size": 16, "epochs": 3, "seed": 1}
    base.update(kw)
    return TrainingSpec.model_validate(base)


def test_epoch_loss_is_the_mean_of_batch_losses_of_a_plain_loop() -> None:
    p = _problem()
    t = _training()
    rec = train(MLP, t, p, instrumented=True)
    # independent reference: the loop a user would write, same seed, same shuffling
    from worker.engine.model import build_model

    torch.manual_seed(t.seed)
    model = build_model(MLP, p.sample_shape, seed=t.seed)
    opt = torch.optim.SGD(model.parameters(), lr=t.lr)
    gen = torch.Generator().manual_seed(t.seed)
    means = []
    for _ in range(t.epochs):
        perm = torch.randperm(p.n_train, generator=gen)
        losses = []
        for i in range(0, p.n_train, t.batch_size):
            idx = perm[i : i + t.batch_size]
            loss = torch.nn.functional.cross_entropy(model(p.x_train[idx]), p.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        means.append(sum(losses) / len(losses))
    assert np.allclose(rec.train_loss, means, rtol=1e-5)


def test_same_seed_same_history_and_instruments_fill_every_layer() -> None:
    p = _problem()
    a = train(MLP, _training(), p, instrumented=True)
    b = train(MLP, _training(), p, instrumented=True)
    assert a.train_loss == b.train_loss and a.val_loss == b.val_loss
    assert [layer.name for layer in a.layers] == ["0.linear", "2.linear"]
    assert all(len(layer.grad_norm) == 3 and len(layer.update_ratio) == 3 for layer in a.layers)
    assert len(a.dead_fraction["1.relu"]) == 4  # at init and after each epoch


def test_non_finite_data_stops_at_the_first_epoch_with_null_losses() -> None:
    rec = train(MLP, _training(epochs=5), _problem(nan=True), instrumented=True)
    assert rec.stop_reason == "non_finite" and len(rec.train_loss) == 1 and rec.train_loss[0] is None


def test_penalty_is_reported_beside_the_data_loss_never_in_it() -> None:
    p = _problem()
    plain = train(MLP, _training(lr=0.0), p, instrumented=False)
    penalized = train(MLP, _training(lr=0.0, l2=10.0), p, instrumented=False)
    # lr 0: the weights never move, so the data loss is the same with or without the penalty
    assert plain.train_loss == penalized.train_loss
    assert penalized.penalty[0] > 0 and plain.penalty[0] == 0


def test_continuing_a_run_equals_training_it_longer() -> None:
    p = _problem()
    first = train(MLP, _training(epochs=2, optimizer="adam", lr=0.01), p, instrumented=False, keep_state=True)
    assert first.state is not None
    more = train(MLP, _training(epochs=2, optimizer="adam", lr=0.01), p, instrumented=False, start=first.state)
    whole = train(MLP, _training(epochs=4, optimizer="adam", lr=0.01), p, instrumented=False)
    assert np.allclose(first.train_loss + more.train_loss, whole.train_loss, rtol=1e-5)
    # the continuation trained a copy: the kept state is unchanged
    again = train(MLP, _training(epochs=2, optimizer="adam", lr=0.01), p, instrumented=False, start=first.state)
    assert again.train_loss == more.train_loss


def test_frozen_model_never_changes() -> None:
    frozen = ModelSpec.model_validate({"layers": [{"type": "linear", "out_features": 3, "frozen": True}]})
    rec = train(frozen, _training(batch_size=1000), _problem(), instrumented=True)  # one full batch an epoch
    assert rec.trainable_params == 0
    assert math.isclose(rec.train_loss[0], rec.train_loss[-1], rel_tol=1e-6)


def test_bce_matches_pytorch_in_range_and_is_nan_outside() -> None:
    from worker.engine.train.losses import LOSSES

    p = torch.tensor([0.0, 0.3, 1.0, 0.9], requires_grad=True)  # saturated sigmoids give exact 0 and 1
    y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    mine = LOSSES["bce"](p, y)
    mine.backward()
    q = p.detach().clone().requires_grad_()
    ref = torch.nn.functional.binary_cross_entropy(q, y)
    ref.backward()
    assert torch.isclose(mine, ref) and p.grad is not None and torch.allclose(p.grad, q.grad)
    assert torch.isnan(LOSSES["bce"](torch.tensor([1.5, 0.2]), torch.tensor([1.0, 0.0])))
