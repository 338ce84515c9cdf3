"""Each instrument against a slow, independent reference: gradient norms against autograd's gradients summed
by hand in float64, update ratios against parameter snapshots taken around a real optimizer step, dead units
and saturation on layers made dead or saturated by construction (so the right answer is known exactly)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from worker.engine.instruments import DeadUnits, GradNorm, Saturation, StepView, UpdateRatio
from worker.engine.train.loop import activations

NAMES = ["0.linear", "2.linear"]
KINDS = {0: "linear", 1: "tanh", 2: "linear"}


def _mlp(seed: int = 0) -> torch.nn.Sequential:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))


def _layer_params(model: torch.nn.Sequential) -> list[list[torch.nn.Parameter]]:
    """Per layer with parameters, its tensors, weight first (what the loop hands the instruments)."""
    return [[model[0].weight, model[0].bias], [model[2].weight, model[2].bias]]


def _batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 3, generator=g), torch.randint(0, 2, (8,), generator=g)


def _by_hand_norm(tensors: list[torch.Tensor]) -> float:
    """sqrt of the sum of squares over every entry of ``tensors``, in float64 numpy."""
    return math.sqrt(sum(float((t.detach().double().numpy() ** 2).sum()) for t in tensors))


def test_grad_norm_matches_autograds_gradients_summed_by_hand() -> None:
    model = _mlp()
    params = _layer_params(model)
    ins = GradNorm(NAMES, KINDS)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    per_step: list[list[float]] = []
    weights_at_first_step = [_by_hand_norm([ps[0]]) for ps in params]
    for seed in (1, 2):
        x, y = _batch(seed)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        # the reference: autograd's gradients of the same loss, taken apart from .grad
        reference = torch.autograd.grad(loss, [p for ps in params for p in ps], retain_graph=True)
        per_step.append([_by_hand_norm(list(reference[0:2])), _by_hand_norm(list(reference[2:4]))])
        if seed == 1:
            weight_only_first = _by_hand_norm([reference[0]])
        opt.zero_grad()
        loss.backward()
        ins.before_step(StepView(params, [[p.grad for p in ps] for ps in params]))
        opt.step()
    ins.end_epoch({})

    assert ins.first_step == pytest.approx(per_step[0], rel=1e-5)
    assert ins.first_weight == pytest.approx(weights_at_first_step, rel=1e-6)
    # the step series is the global norm over every layer's gradients
    assert ins.steps["grad_norm"] == pytest.approx([math.hypot(*s) for s in per_step], rel=1e-5)
    # per layer: the mean over the epoch's measured steps
    for j, name in enumerate(NAMES):
        assert ins.per_layer[name]["grad_norm"] == pytest.approx([np.mean([s[j] for s in per_step])], rel=1e-5)
    summary = ins.summary()
    assert summary["first_step_layer_grad_norm"] == ins.first_step
    # the bias counts: the weight's gradient alone is a smaller norm
    assert ins.first_step[0] > weight_only_first * (1 + 1e-3)


def test_grad_norm_counts_the_bias_and_a_layer_without_gradients_is_zero() -> None:
    w = torch.nn.Parameter(torch.tensor([[3.0]]))
    b = torch.nn.Parameter(torch.tensor([4.0]))
    frozen = torch.nn.Parameter(torch.tensor([[1.0]]), requires_grad=False)
    w.grad, b.grad = torch.tensor([[3.0]]), torch.tensor([4.0])
    ins = GradNorm(["0.linear", "1.linear"], {0: "linear", 1: "linear"})
    ins.before_step(StepView([[w, b], [frozen]], [[w.grad, b.grad], [None]]))
    ins.end_epoch({})
    assert ins.first_step == [5.0, 0.0]  # sqrt(3^2 + 4^2), and no gradient at all
    assert ins.steps["grad_norm"] == [5.0]


def test_a_non_finite_gradient_is_recorded_as_none() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    ins = GradNorm(["0.linear"], {0: "linear"})
    ins.before_step(StepView([[w]], [[torch.tensor([1.0, float("nan")])]]))
    ins.end_epoch({})
    assert ins.first_step == [None] and ins.steps["grad_norm"] == [None]


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_update_ratio_matches_snapshots_around_the_optimizer_step(optimizer: str) -> None:
    model = _mlp()
    params = _layer_params(model)
    opt = (
        torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
        if optimizer == "sgd"
        else torch.optim.Adam(model.parameters(), lr=0.05)
    )
    ins = UpdateRatio(NAMES, KINDS)
    reference: list[list[float]] = []
    for seed in (1, 2, 3):
        x, y = _batch(seed)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        before = [ps[0].detach().double().numpy().copy() for ps in params]  # weights only, by value
        view = StepView(params, [[p.grad for p in ps] for ps in params])
        ins.before_step(view)
        opt.step()
        ins.after_step(view)
        after = [ps[0].detach().double().numpy() for ps in params]
        reference.append(
            [float(np.linalg.norm(a - w0) / np.linalg.norm(w0)) for a, w0 in zip(after, before, strict=True)]
        )
    ins.end_epoch({})

    # the step series is the layer that moved most, relative to its weights
    assert ins.steps["update_ratio"] == pytest.approx([max(r) for r in reference], rel=1e-5)
    for j, name in enumerate(NAMES):
        assert ins.per_layer[name]["update_ratio"] == pytest.approx([np.mean([r[j] for r in reference])], rel=1e-5)
    assert all(r > 0 for step in reference for r in step)


def test_update_ratio_leaves_the_bias_out() -> None:
    # the weight does not move, the bias does: the ratio is 0
    w = torch.nn.Parameter(torch.ones(2, 2))
    b = torch.nn.Parameter(torch.zeros(2))
    ins = UpdateRatio(["0.linear"], {0: "linear"})
    view = StepView([[w, b]], [[None, None]])
    ins.before_step(view)
    with torch.no_grad():
        b += 5.0
    ins.after_step(view)
    ins.end_epoch({})
    assert ins.steps["update_ratio"] == [0.0]


def _relu_net(bias: list[float], weight_scale: float) -> torch.nn.Sequential:
    layer = torch.nn.Linear(3, len(bias))
    with torch.no_grad():
        layer.weight.copy_(torch.full((len(bias), 3), weight_scale))
        layer.bias.copy_(torch.tensor(bias))
    return torch.nn.Sequential(layer, torch.nn.ReLU())


def test_dead_units_on_a_layer_made_dead_by_construction() -> None:
    # units 0-2: a bias of -1e3 before the ReLU, so zero for every input; unit 3: bias +10, always alive;
    # unit 4: bias 0 with positive weights, alive for the inputs whose features sum above 0 (about half)
    model = _relu_net([-1e3, -1e3, -1e3, 10.0, 0.0], weight_scale=1.0)
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    acts = activations(model, x, [1])
    assert 0 < float((acts[1][:, 4] > 0).float().mean()) < 1  # unit 4 is off for some inputs only
    ins = DeadUnits(["0.linear"], {0: "linear", 1: "relu"})
    ins.end_epoch(acts)
    ins.end_epoch(activations(_relu_net([1.0] * 5, weight_scale=0.0), x, [1]))  # nothing dead
    assert ins.summary() == {"dead_fraction": {"1.relu": [pytest.approx(3 / 5), 0.0]}}


def test_dead_units_looks_only_at_relus() -> None:
    ins = DeadUnits(["0.linear"], {0: "linear", 1: "tanh"})
    ins.end_epoch({1: torch.zeros(4, 3)})
    assert ins.summary() == {"dead_fraction": {}}


def _saturating(kind: str, scales: list[float]) -> torch.nn.Sequential:
    layer = torch.nn.Linear(3, len(scales))
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(scales).unsqueeze(1).expand(len(scales), 3))
        layer.bias.zero_()
    return torch.nn.Sequential(layer, torch.nn.Sigmoid() if kind == "sigmoid" else torch.nn.Tanh())


def _within_a_hundredth_of_a_bound(o: torch.Tensor, lo: float, hi: float) -> float:
    """The reference: the share of outputs less than 0.01 from either bound, counted entry by entry."""
    values = o.double().flatten().tolist()
    return sum(min(v - lo, hi - v) < 0.01 for v in values) / len(values)


@pytest.mark.parametrize("kind,lo,hi", [("sigmoid", 0.0, 1.0), ("tanh", -1.0, 1.0)])
def test_saturation_on_a_layer_saturated_by_construction(kind: str, lo: float, hi: float) -> None:
    # inputs whose features are all positive: units with huge weights sit at a bound for every input,
    # units with tiny weights sit at the middle (0.5 for sigmoid, 0 for tanh)
    x = torch.rand(64, 3, generator=torch.Generator().manual_seed(0)) + 0.1
    saturated = _saturating(kind, [1e3, -1e3, 1e-4, 1e-4])
    calm = _saturating(kind, [1e-3] * 4)
    ins = Saturation(["0.linear"], {0: "linear", 1: kind})
    acts = activations(saturated, x, [1])
    ins.end_epoch(acts)
    ins.end_epoch(activations(calm, x, [1]))
    series = ins.summary()["saturation"][f"1.{kind}"]
    assert series == [pytest.approx(0.5), 0.0]
    assert series[0] == pytest.approx(_within_a_hundredth_of_a_bound(acts[1], lo, hi))


@pytest.mark.parametrize(
    "kind,outputs,saturated",
    [
        # within 0.01 of a bound is saturated, 0.015 away is not; the share is of every output
        ("sigmoid", [0.995, 0.985, 0.005, 0.015, 0.5, 0.5, 0.5, 0.5], 2 / 8),
        ("tanh", [0.995, 0.985, -0.995, -0.985, 0.0, 0.0, 0.0, 0.0], 2 / 8),
        ("tanh", [0.5, 0.999, -0.999, -0.999, 0.999, 0.0, 0.0, 0.0], 4 / 8),
    ],
)
def test_saturation_counts_outputs_within_a_hundredth_of_a_bound(
    kind: str, outputs: list[float], saturated: float
) -> None:
    ins = Saturation(["0.linear"], {0: "linear", 1: kind})
    ins.end_epoch({1: torch.tensor(outputs).reshape(4, 2)})
    assert ins.summary()["saturation"][f"1.{kind}"] == [pytest.approx(saturated)]
