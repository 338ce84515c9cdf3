"""Hidden sigmoid/tanh activations replaced by ReLU with Kaiming init: the gradient-friendly choice."""

from __future__ import annotations

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun, as_model, layer_dicts

SATURATING = ("sigmoid", "tanh")


def _hidden_saturating(ctx: ProbeContext) -> list[int]:
    layers = ctx.spec.model.layers
    weights = [i for i, layer in enumerate(layers) if layer.type in ("linear", "conv2d")]
    last = weights[-1] if weights else len(layers)
    return [i for i, layer in enumerate(layers[:last]) if layer.type in SATURATING]


class ReluActivation(Probe):
    name: ProbeName = "relu_activation"
    edits_layers = True
    priority = 20

    def applies(self, ctx: ProbeContext) -> bool:
        if ctx.spec.model.onnx is not None:
            return False  # it edits the layer list, which an uploaded ONNX model does not have
        return bool(_hidden_saturating(ctx))

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        if ctx.spec.model.onnx is not None:
            return []
        swap = _hidden_saturating(ctx)
        layers = layer_dicts(ctx.spec.model)
        for i in swap:
            layers[i] = {"type": "relu"}
        for layer in layers:
            layer.pop("init", None)
        init = {"weight": "kaiming_uniform", "bias": "zeros"}
        return [
            ProbeRun(
                name=self.name,
                family=self.name,
                changes={**{f"model.layers[{i}].type": "relu" for i in swap}, "model.init": init},
                model=as_model(layers, init),
                training=ctx.spec.training,
            )
        ]
