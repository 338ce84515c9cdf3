"""Building the model: one module per layer, the init schemes and their precedence, freezing, seeds."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

from worker.contract.errors import SpecError
from worker.contract.spec import ModelSpec
from worker.engine.model import build_model, layer_names, param_layer_indices


def model_spec(*layers: dict[str, Any], init: dict[str, Any] | None = None) -> ModelSpec:
    """A validated model spec."""
    return ModelSpec.model_validate({"layers": list(layers), "init": init})


def linear(out: int = 4, **extra: Any) -> dict[str, Any]:
    """A linear layer spec."""
    return {"type": "linear", "out_features": out, **extra}


def test_every_layer_type_maps_to_its_module() -> None:
    spec = model_spec(
        {"type": "conv2d", "out_channels": 4, "padding": 1},
        {"type": "batchnorm"},
        {"type": "maxpool2d"},
        {"type": "avgpool2d", "kernel_size": 2, "stride": 1},
        {"type": "layernorm"},
        {"type": "flatten"},
        {"type": "dropout", "p": 0.3},
        linear(8),
        {"type": "batchnorm"},
        {"type": "relu"},
        {"type": "leaky_relu", "negative_slope": 0.2},
        {"type": "elu", "alpha": 0.5},
        {"type": "gelu"},
        {"type": "tanh"},
        {"type": "sigmoid"},
        linear(3),
        {"type": "softmax"},
        {"type": "log_softmax"},
    )
    model = build_model(spec, (1, 8, 8), seed=0)
    expected = [
        nn.Conv2d,
        nn.BatchNorm2d,
        nn.MaxPool2d,
        nn.AvgPool2d,
        nn.LayerNorm,
        nn.Flatten,
        nn.Dropout,
        nn.Linear,
        nn.BatchNorm1d,
        nn.ReLU,
        nn.LeakyReLU,
        nn.ELU,
        nn.GELU,
        nn.Tanh,
        nn.Sigmoid,
        nn.Linear,
        nn.Softmax,
        nn.LogSoftmax,
    ]
    assert [type(m) for m in model] == expected
    assert model[4].normalized_shape == (4, 3, 3) and model[7].in_features == 36
    assert model[6].p == 0.3 and model[10].negative_slope == 0.2 and model[11].alpha == 0.5
    assert model[16].dim == 1 and model[17].dim == 1
    assert model(torch.randn(5, 1, 8, 8)).shape == (5, 3)


def test_names_and_parameter_layers() -> None:
    spec = model_spec(linear(), {"type": "relu"}, {"type": "batchnorm"}, linear(2))
    assert layer_names(spec) == ["0.linear", "1.relu", "2.batchnorm", "3.linear"]
    assert param_layer_indices(build_model(spec, (3,), seed=0)) == [0, 2, 3]


@pytest.mark.parametrize(
    ("init", "check"),
    [
        ({"weight": "zeros"}, lambda w: bool((w == 0).all())),
        ({"weight": "ones"}, lambda w: bool((w == 1).all())),
        ({"weight": "constant", "value": 0.5}, lambda w: bool((w == 0.5).all())),
        ({"weight": "normal", "mean": 3.0, "std": 0.01}, lambda w: abs(w.mean().item() - 3.0) < 0.01),
        ({"weight": "uniform", "a": 2.0, "b": 2.5}, lambda w: bool(((w >= 2.0) & (w <= 2.5)).all())),
        # xavier_uniform's bound is gain * sqrt(6 / (fan_in + fan_out)) = 2 * sqrt(6 / 96).
        ({"weight": "xavier_uniform", "gain": 2.0}, lambda w: w.abs().max().item() <= 0.5 and w.std() > 0.2),
        ({"weight": "xavier_normal"}, lambda w: abs(w.std().item() - math.sqrt(2 / 96)) < 0.03),
        # kaiming with nonlinearity relu: std sqrt(2 / fan_in) = 0.25; uniform bound sqrt(6 / fan_in).
        ({"weight": "kaiming_normal"}, lambda w: abs(w.std().item() - 0.25) < 0.03),
        (
            {"weight": "kaiming_uniform"},
            lambda w: w.abs().max().item() <= math.sqrt(6 / 32) and w.std() > 0.2,
        ),
        (
            {"weight": "orthogonal", "gain": 3.0},
            lambda w: torch.allclose(w.T @ w, 9 * torch.eye(32), atol=1e-3),
        ),
    ],
)
def test_weight_schemes(init: dict[str, Any], check: Any) -> None:
    model = build_model(model_spec(linear(64), init=init), (32,), seed=0)
    assert check(model[0].weight.detach())


def test_default_scheme_is_pytorchs_own() -> None:
    plain = build_model(model_spec(linear()), (3,), seed=7)
    default = build_model(model_spec(linear(), init={"weight": "default", "bias": "default"}), (3,), seed=7)
    assert torch.equal(plain[0].weight, default[0].weight) and torch.equal(plain[0].bias, default[0].bias)


@pytest.mark.parametrize(
    ("bias", "expected"),
    [(-5.0, -5.0), ("zeros", 0.0), ("ones", 1.0)],
)
def test_bias_schemes_and_constant_number(bias: Any, expected: float) -> None:
    model = build_model(model_spec(linear(), init={"bias": bias}), (3,), seed=0)
    assert bool((model[0].bias == expected).all())
    assert not bool((model[0].weight == 0).all())  # the weight keeps PyTorch's default


def test_layer_init_overrides_model_init_key_by_key() -> None:
    spec = model_spec(
        linear(),
        {"type": "relu"},
        linear(2, init={"weight": "ones"}),
        init={"weight": "zeros", "bias": -1.0},
    )
    model = build_model(spec, (3,), seed=0)
    assert bool((model[0].weight == 0).all()) and bool((model[0].bias == -1).all())
    assert bool((model[2].weight == 1).all()) and bool((model[2].bias == -1).all())


def test_scheme_parameters_come_from_the_object_that_names_the_scheme() -> None:
    spec = model_spec(
        linear(init={"weight": "constant", "value": 2.0}),
        init={"weight": "constant", "value": 9.0, "bias": "constant"},
    )
    model = build_model(spec, (3,), seed=0)
    assert bool((model[0].weight == 2).all()) and bool((model[0].bias == 9).all())


def test_norm_layers_keep_their_defaults_unless_they_carry_an_init() -> None:
    spec = model_spec(
        linear(),
        {"type": "batchnorm"},
        {"type": "layernorm", "init": {"weight": "constant", "value": 3.0, "bias": 0.5}},
        init={"weight": "zeros", "bias": "ones"},
    )
    model = build_model(spec, (3,), seed=0)
    assert bool((model[1].weight == 1).all()) and bool((model[1].bias == 0).all())
    assert bool((model[2].weight == 3).all()) and bool((model[2].bias == 0.5).all())


def test_matrix_scheme_on_a_bias_is_a_spec_error() -> None:
    with pytest.raises(SpecError) as err:
        build_model(model_spec(linear(init={"bias": "orthogonal"})), (3,), seed=0)
    assert err.value.loc == ("model", "layers", 0, "init", "bias")


def test_bias_init_on_a_layer_without_bias_is_ignored() -> None:
    model = build_model(model_spec(linear(bias=False), init={"bias": 1.0}), (3,), seed=0)
    assert model[0].bias is None


def test_frozen_layers_do_not_require_grad() -> None:
    spec = model_spec(linear(frozen=True), {"type": "batchnorm", "frozen": True}, linear(2))
    model = build_model(spec, (3,), seed=0)
    assert not any(p.requires_grad for p in model[0].parameters())
    assert not any(p.requires_grad for p in model[1].parameters())
    assert all(p.requires_grad for p in model[2].parameters())


def test_seed_fixes_the_weights_and_leaves_the_global_rng_alone() -> None:
    spec = model_spec(linear(), {"type": "relu"}, linear(2, init={"weight": "normal"}))
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    a = build_model(spec, (3,), seed=1)
    assert torch.equal(torch.rand(3), expected_draw)
    b, c = build_model(spec, (3,), seed=1), build_model(spec, (3,), seed=2)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb) and not torch.equal(pa, pc)


def test_shape_errors_surface_from_build() -> None:
    with pytest.raises(SpecError) as err:
        build_model(model_spec(linear()), (1, 4, 4), seed=0)
    assert err.value.loc == ("model", "layers", 0)
