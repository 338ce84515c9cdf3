"""A batchnorm layer after every hidden weight layer: keeps activations and gradients on scale."""

from __future__ import annotations

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun, layer_dicts

#: Weight layers a model needs before "auto" tries normalization.
MIN_DEPTH = 4


class BatchNormProbe(Probe):
    name: ProbeName = "batchnorm"
    edits_layers = True
    priority = 25

    def applies(self, ctx: ProbeContext) -> bool:
        if ctx.spec.model.onnx is not None:
            return False  # it edits the layer list, which an uploaded ONNX model does not have
        weights = [layer for layer in ctx.spec.model.layers if layer.type in ("linear", "conv2d")]
        has_norm = any(layer.type in ("batchnorm", "layernorm") for layer in ctx.spec.model.layers)
        return len(weights) >= MIN_DEPTH and not has_norm

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        if ctx.spec.model.onnx is not None:
            return []
        layers = layer_dicts(ctx.spec.model)
        weights = [i for i, layer in enumerate(layers) if layer["type"] in ("linear", "conv2d")]
        out = []
        for i, layer in enumerate(layers):
            out.append(layer)
            if i in weights[:-1]:
                out.append({"type": "batchnorm"})
        return [self.with_layers(ctx, out, {"model.layers": f"batchnorm after layers {weights[:-1]}"})]
