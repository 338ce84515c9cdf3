"""``lossdoctor.Monitor`` on real, tiny PyTorch loops: each bug is reported as ``training_loop_bug`` with its
evidence within the first 10 steps, and correct loops (plain, gradient accumulation, zero_grad placed
anywhere) produce no finding."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lossdoctor import Monitor
from lossdoctor.models import Diagnosis

STEPS = 10
torch.manual_seed(0)
X = torch.randn(160, 8)
Y = (X[:, 0] + X[:, 1] > 0).long()


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 2))


def batch(step: int, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    i = (step * size) % len(X)
    return X[i : i + size], Y[i : i + size]


Loss = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def ce(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(model(x), y)


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    *,
    loss_fn: Loss = ce,
    zero_grad: str = "before",
    steps: int = STEPS,
    **monitor_options: int,
) -> tuple[Monitor, Diagnosis]:
    """The usual loop; ``zero_grad``: ``before`` the backward, ``after`` the step, ``keep`` (zeros, not None)
    or ``never``."""
    monitor = Monitor(model, optimizer, **monitor_options)
    for step in range(steps):
        x, y = batch(step)
        if zero_grad == "before":
            optimizer.zero_grad()
        elif zero_grad == "keep":
            optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model, x, y)
        loss.backward()
        optimizer.step()
        if zero_grad == "after":
            optimizer.zero_grad()
        monitor.step(loss)
    return monitor, monitor.summary()


def only_loop_bug(diagnosis: Diagnosis) -> list[str]:
    assert not diagnosis.healthy and diagnosis.primary_cause == "training_loop_bug"
    assert diagnosis.primary is not None and diagnosis.primary.confidence >= 0.9 and diagnosis.primary.fix
    return diagnosis.primary.evidence


@pytest.mark.parametrize("zero_grad", ["before", "after", "keep"])
def test_a_correct_loop_has_no_finding(zero_grad: str) -> None:
    model = mlp()
    monitor, diagnosis = train(model, torch.optim.SGD(model.parameters(), lr=0.1), zero_grad=zero_grad, steps=30)
    assert diagnosis.healthy and diagnosis.findings == [], diagnosis.summary
    assert diagnosis.primary_cause is None
    # the readings are there on sampled steps, whatever zero_grad did before monitor.step
    first = monitor.records[0]
    assert first["grad_norm"] > 0 and first["update_ratio"] > 0 and first["changed"] == 4
    assert [r["step"] for r in monitor.records] == [*range(1, 11), 20, 30]
    assert {layer["name"] for layer in first["layers"]} == {"0", "1", "2"}


def test_gradient_accumulation_over_4_micro_batches_has_no_finding() -> None:
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    monitor = Monitor(model, optimizer)
    for step in range(STEPS * 2):
        x, y = batch(step)
        optimizer.zero_grad()
        for k in range(4):
            loss = F.cross_entropy(model(x[k * 4 : (k + 1) * 4]), y[k * 4 : (k + 1) * 4]) / 4
            loss.backward()
        optimizer.step()
        monitor.step(loss)
    diagnosis = monitor.summary()
    assert diagnosis.healthy and diagnosis.findings == [], diagnosis.summary
    assert {(r["backward_passes"], r["cleared_passes"]) for r in monitor.records} == {(4, 1)}


@pytest.mark.parametrize("bound_to", ["another instance", "a deepcopy"])
def test_an_optimizer_of_another_model_is_a_loop_bug(bound_to: str) -> None:
    model = mlp()
    other = mlp() if bound_to == "another instance" else copy.deepcopy(model)
    _, diagnosis = train(model, torch.optim.SGD(other.parameters(), lr=0.1))
    evidence = only_loop_bug(diagnosis)
    assert evidence[0] == (
        "the optimizer (SGD) holds 4 parameter tensors (178 values), none of them one of the "
        "model's 4 trainable tensors (178 values)"
    )
    assert "copy.deepcopy" in evidence[1]
    assert evidence[2] == "no model parameter changed in 10 measured steps (steps 1-10)"
    assert "model.parameters()" in diagnosis.primary.fix["code"]  # type: ignore[union-attr]
    assert len(diagnosis.findings) == 1  # its consequences (nothing changes, gradients pile up) are not repeated


def test_the_bug_is_seen_before_the_first_step() -> None:
    model = mlp()
    monitor = Monitor(model, torch.optim.SGD(copy.deepcopy(model).parameters(), lr=0.1))
    assert monitor.summary().primary_cause == "training_loop_bug"


def test_an_optimizer_missing_a_layer_names_it() -> None:
    model = mlp()
    _, diagnosis = train(model, torch.optim.SGD(model[0].parameters(), lr=0.1))
    assert diagnosis.primary_cause == "training_loop_bug" and diagnosis.primary is not None
    assert "2 of the model's 4 trainable tensors; 2 are not in it (2.weight, 2.bias)" in diagnosis.primary.evidence[0]


def test_a_loop_without_zero_grad_is_a_loop_bug() -> None:
    model = mlp()
    monitor, diagnosis = train(model, torch.optim.SGD(model.parameters(), lr=0.1), zero_grad="never")
    evidence = only_loop_bug(diagnosis)
    assert evidence[0] == (
        "in 9 of 9 steps (steps 2-10) every backward pass added to the gradients left from the "
        "step before: none found them cleared (None or zero)"
    )
    assert evidence[1].startswith("the gradient norm went from ")
    assert "zero_grad" in diagnosis.primary.fix["code"]  # type: ignore[union-attr]
    # found by step 4 already
    early = Monitor(model, torch.optim.SGD(model.parameters(), lr=0.1))
    early.setup, early._head = monitor.setup, monitor.records[:4]
    assert early.summary().primary_cause == "training_loop_bug"


@pytest.mark.parametrize(
    "detach",
    [
        lambda loss: loss.detach().requires_grad_(),
        lambda loss: torch.tensor(loss.item(), requires_grad=True),
    ],
    ids=["detach", "tensor_of_item"],
)
def test_a_detached_loss_is_a_loop_bug(detach: Callable[[torch.Tensor], torch.Tensor]) -> None:
    model = mlp()
    _, diagnosis = train(
        model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=lambda m, x, y: detach(ce(m, x, y))
    )
    evidence = only_loop_bug(diagnosis)
    assert evidence[0] == "no trainable model parameter received a gradient in 10 steps (steps 1-10)"
    assert evidence[1].startswith("the loss passed to monitor.step is a leaf tensor (no grad_fn)")
    assert len(diagnosis.findings) == 1


def test_a_detached_copy_passed_to_the_monitor_is_fine() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor(model, optimizer)
    for step in range(STEPS):
        optimizer.zero_grad()
        loss = ce(model, *batch(step))
        loss.backward()
        optimizer.step()
        monitor.step(loss.item() if step % 2 else loss.detach())
    assert monitor.summary().healthy


def test_lr_zero_is_lr_too_low() -> None:
    model = mlp()
    _, diagnosis = train(model, torch.optim.SGD(model.parameters(), lr=0.0))
    assert diagnosis.primary_cause == "lr_too_low" and diagnosis.primary is not None
    assert diagnosis.primary.evidence == [
        "the optimizer's lr is 0 in every parameter group; no parameter changed in 9 measured steps (steps 2-10)"
    ]


def test_a_diverging_loss_is_lr_too_high_and_nan_inputs_are_non_finite_data() -> None:
    model = mlp()
    _, diverged = train(model, torch.optim.SGD(model.parameters(), lr=1e4), steps=30)
    assert diverged.primary_cause == "lr_too_high" and diverged.primary is not None
    assert "then the loss was non-finite at step" in diverged.primary.evidence[0]

    def nan_loss(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ce(m, x * float("nan"), y)

    model = mlp()
    _, bad_data = train(model, torch.optim.SGD(model.parameters(), lr=0.1), loss_fn=nan_loss)
    assert bad_data.primary_cause == "non_finite_data"
    assert "non-finite from step 1, before any update" in bad_data.findings[0].evidence[0]


def test_dead_relus_are_read_on_sampled_steps_only() -> None:
    model = mlp()
    with torch.no_grad():
        model[0].bias.fill_(-100.0)  # every unit after the first ReLU is dead
    monitor, diagnosis = train(model, torch.optim.SGD(model.parameters(), lr=0.1), steps=25, every=5, warmup=2)
    assert [r["step"] for r in monitor.records] == [1, 2, 5, 10, 15, 20, 25]
    dead = [[layer["dead_fraction"] for layer in r["layers"] if layer["name"] == "1"] for r in monitor.records]
    assert dead == [[1.0]] * 7
    assert "dead_relus" in [f.cause for f in diagnosis.findings]
    assert monitor.relus.handles == []  # the forward hooks are off between sampled steps


def test_every_step_sampled_and_close_removes_the_hooks() -> None:
    model = mlp()
    monitor, _ = train(model, torch.optim.SGD(model.parameters(), lr=0.1), every=1, steps=15)
    assert [r["step"] for r in monitor.records] == list(range(1, 16))
    monitor.close()
    assert monitor.grads.handles == [] and monitor.relus.handles == []
    loss = ce(model, *batch(0))
    loss.backward()
    assert monitor.grads.counts == [0, 0, 0, 0]


def test_frozen_parameters_left_in_the_optimizer_are_fine() -> None:
    model = mlp()
    model[0].requires_grad_(False)
    monitor, diagnosis = train(model, torch.optim.SGD(model.parameters(), lr=0.1))
    assert monitor.setup["foreign_tensors"] == 0 and monitor.setup["frozen_tensors"] == 2
    assert diagnosis.healthy, diagnosis.summary


def test_monitor_step_after_every_micro_batch_is_still_one_step() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor(model, optimizer)
    for step in range(STEPS):
        x, y = batch(step)
        optimizer.zero_grad()
        for k in range(4):
            loss = F.cross_entropy(model(x[k * 4 : (k + 1) * 4]), y[k * 4 : (k + 1) * 4]) / 4
            loss.backward()
            if k == 3:
                optimizer.step()
            monitor.step(loss)  # called per micro-batch: the three before the optimizer step are part of it
    diagnosis = monitor.summary()
    assert diagnosis.healthy, diagnosis.summary
    assert monitor.steps == STEPS
    assert {(r["backward_passes"], r["cleared_passes"], r["optimizer_steps"]) for r in monitor.records} == {(4, 1, 1)}


def test_a_loop_that_never_steps_the_optimizer_is_a_loop_bug() -> None:
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    monitor = Monitor(model, optimizer)
    for step in range(70):
        optimizer.zero_grad()
        loss = ce(model, *batch(step))
        loss.backward()
        monitor.step(loss)
    diagnosis = monitor.summary()
    assert diagnosis.primary_cause == "training_loop_bug" and diagnosis.primary is not None
    assert diagnosis.primary.evidence[0].startswith("optimizer.step() (SGD) was not called")
