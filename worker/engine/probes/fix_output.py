"""The output layer made to fit the loss: a squashing activation removed, or the one it needs added."""

from __future__ import annotations

from typing import Any

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun, layer_dicts


def fitted(layers: list[dict[str, Any]], loss: str) -> tuple[list[dict[str, Any]], str] | None:
    """Layers whose output fits ``loss``, and what changed; None when nothing needs to change."""
    last = len(layers) - 1
    tail = layers[last]["type"] if layers else None
    if loss in ("cross_entropy", "bce_with_logits", "mse", "l1", "huber") and tail in ("softmax", "sigmoid", "tanh"):
        return layers[:last], f"final {tail} removed"
    if loss == "nll" and tail != "log_softmax":
        if tail == "softmax":
            return layers[:last] + [{"type": "log_softmax"}], "final softmax replaced by log_softmax"
        return layers + [{"type": "log_softmax"}], "log_softmax added"
    if loss == "bce" and tail not in ("sigmoid", "softmax"):
        return layers + [{"type": "sigmoid"}], "sigmoid added"
    return None


class FixOutput(Probe):
    name: ProbeName = "fix_output"
    edits_layers = True
    priority = 5

    def applies(self, ctx: ProbeContext) -> bool:
        if ctx.spec.model.onnx is not None:
            return False  # it edits the layer list, which an uploaded ONNX model does not have
        check = ctx.checks.get("output_loss")
        return bool(check and check.flagged) and fitted(layer_dicts(ctx.spec.model), ctx.spec.training.loss) is not None

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        if ctx.spec.model.onnx is not None:
            return []
        result = fitted(layer_dicts(ctx.spec.model), ctx.spec.training.loss)
        if result is None:
            return []
        layers, what = result
        return [self.with_layers(ctx, layers, {"model.layers": what})]
