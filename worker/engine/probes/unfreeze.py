"""Every frozen layer trained (and an lr of 0 replaced by 1e-3)."""

from __future__ import annotations

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun, layer_dicts

#: The lr used when the spec's lr is 0.
LR_FROM_ZERO = 1e-3


class Unfreeze(Probe):
    name: ProbeName = "unfreeze"
    edits_layers = True
    priority = 5

    def applies(self, ctx: ProbeContext) -> bool:
        if ctx.spec.model.onnx is not None:
            return False  # it edits the layer list, which an uploaded ONNX model does not have
        check = ctx.checks.get("frozen")
        return bool(check and check.flagged)

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        if ctx.spec.model.onnx is not None:
            return []
        layers = layer_dicts(ctx.spec.model)
        frozen = [i for i, layer in enumerate(layers) if layer.get("frozen")]
        changes: dict[str, object] = {f"model.layers[{i}].frozen": False for i in frozen}
        for layer in layers:
            layer.pop("frozen", None)
        t = ctx.spec.training
        if t.lr == 0:
            changes["training.lr"] = LR_FROM_ZERO
            t = t.model_copy(update={"lr": LR_FROM_ZERO})
        return [self.with_layers(ctx, layers, changes, t)]
