"""Build the user's model as a ``torch.nn.Sequential``, one module per spec layer.

Input sizes come from ``worker.data.shapes``; weights are drawn from the CPU generator seeded with ``seed``
inside a forked RNG, so a seed always gives the same weights and the caller's RNG is untouched.
"""

from __future__ import annotations

import torch
from torch import nn

from worker.contract.spec import (
    ELU,
    AvgPool2d,
    BatchNorm,
    Conv2d,
    Dropout,
    Layer,
    LayerNorm,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ModelSpec,
)
from worker.data.shapes import infer_shapes
from worker.engine.model.init import init_layer

#: The parameter-free layers that need no input size: type -> constructor.
SIMPLE: dict[str, type[nn.Module]] = {
    "flatten": nn.Flatten,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def make_module(layer: Layer, in_shape: tuple[int, ...]) -> nn.Module:
    """The module for one spec layer whose per-sample input has shape ``in_shape``."""
    match layer:
        case Linear():
            return nn.Linear(in_shape[0], layer.out_features, bias=layer.bias)
        case Conv2d():
            return nn.Conv2d(
                in_shape[0],
                layer.out_channels,
                layer.kernel_size,
                stride=layer.stride,
                padding=layer.padding,
                bias=layer.bias,
            )
        case MaxPool2d():
            return nn.MaxPool2d(layer.kernel_size, stride=layer.stride)
        case AvgPool2d():
            return nn.AvgPool2d(layer.kernel_size, stride=layer.stride)
        case Dropout():
            return nn.Dropout(layer.p)
        case BatchNorm():
            # [F] samples -> BatchNorm1d(F); [C, H, W] samples -> BatchNorm2d(C).
            return nn.BatchNorm1d(in_shape[0]) if len(in_shape) == 1 else nn.BatchNorm2d(in_shape[0])
        case LayerNorm():
            return nn.LayerNorm(list(in_shape))
        case LeakyReLU():
            return nn.LeakyReLU(layer.negative_slope)
        case ELU():
            return nn.ELU(layer.alpha)
    if layer.type == "softmax":
        return nn.Softmax(dim=1)
    if layer.type == "log_softmax":
        return nn.LogSoftmax(dim=1)
    return SIMPLE[layer.type]()


def build_model(model: ModelSpec, sample_shape: tuple[int, ...], *, seed: int) -> nn.Module:
    """The model for samples of ``sample_shape``, initialized by the spec and seeded by ``seed``: an
    ``nn.Sequential`` for a layer list, the interpreted graph (``worker.onnx``) for an uploaded model."""
    if model.onnx is not None:
        from worker.engine.onnx.build import build_onnx

        return build_onnx(model, seed=seed)
    return build_sequential(model, sample_shape, seed=seed)


def build_sequential(model: ModelSpec, sample_shape: tuple[int, ...], *, seed: int) -> nn.Sequential:
    """The layer list's model for samples of ``sample_shape``, initialized by the spec and seeded by ``seed``."""
    out_shapes = infer_shapes(model.layers, sample_shape)
    in_shapes = [tuple(sample_shape), *out_shapes[:-1]]
    with torch.random.fork_rng(devices=[]):
        # the CPU generator only: the model is built on the CPU, and torch.manual_seed would also
        # queue a seeding of every accelerator, recording a stack trace each time (about 1 ms)
        torch.default_generator.manual_seed(seed)
        modules: list[nn.Module] = []
        for index, (layer, in_shape) in enumerate(zip(model.layers, in_shapes, strict=True)):
            module = make_module(layer, in_shape)
            init_layer(index, layer, module, model.init)
            if getattr(layer, "frozen", False):
                module.requires_grad_(False)
            modules.append(module)
    return nn.Sequential(*modules)


def param_layer_indices(model: nn.Sequential) -> list[int]:
    """Indices of the modules in ``model`` that own parameters (trainable or frozen)."""
    return [i for i, module in enumerate(model) if any(True for _ in module.parameters())]
