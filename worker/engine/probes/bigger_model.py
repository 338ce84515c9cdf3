"""A larger model: hidden layers 4x wider, or two hidden ReLU layers added to a model without any."""

from __future__ import annotations

from typing import Any

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun, layer_dicts

#: Width factor for hidden layers, and the cap on any widened layer.
WIDEN = 4
MAX_WIDTH = 512
#: Hidden width used when the model has no hidden layer at all, and the least width (channels for
#: a convolution: a quarter of it) a widened layer gets: 4x of a 2-unit layer is still tiny.
HIDDEN = 64
NONLINEAR = {"relu", "leaky_relu", "elu", "gelu", "tanh", "sigmoid"}


def bigger(layers: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str]:
    """The larger layer list and a sentence saying what changed."""
    weights = [i for i, layer in enumerate(layers) if layer["type"] in ("linear", "conv2d")]
    hidden_nonlinear = any(layer["type"] in NONLINEAR for layer in layers[: weights[-1]]) if weights else False
    if not hidden_nonlinear and weights:
        last = weights[-1]
        added: list[dict[str, Any]] = [
            {"type": "linear", "out_features": HIDDEN},
            {"type": "relu"},
            {"type": "linear", "out_features": HIDDEN},
            {"type": "relu"},
        ]
        return layers[:last] + added + layers[last:], f"two hidden ReLU layers of {HIDDEN} units added"
    out: list[dict[str, Any]] = []
    for i, original in enumerate(layers):
        layer = dict(original)
        if i in weights[:-1]:
            key = "out_features" if layer["type"] == "linear" else "out_channels"
            least = HIDDEN if key == "out_features" else HIDDEN // 4
            layer[key] = min(max(layer[key] * WIDEN, least), MAX_WIDTH)
        out.append(layer)
    return out, f"hidden layers {WIDEN}x wider (at least {HIDDEN} units)"


class BiggerModel(Probe):
    name: ProbeName = "bigger_model"
    edits_layers = True
    priority = 25

    def applies(self, ctx: ProbeContext) -> bool:
        return ctx.spec.model.onnx is None  # it edits the layer list, which an uploaded ONNX model does not have

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        if ctx.spec.model.onnx is not None:
            return []
        layers, what = bigger(layer_dicts(ctx.spec.model))
        return [self.with_layers(ctx, layers, {"model.layers": what})]
