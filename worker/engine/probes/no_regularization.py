"""The same run without l1, l2, weight decay or dropout."""

from __future__ import annotations

from worker.contract.vocabulary import ProbeName
from worker.engine.model.names import layer_types
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun, layer_dicts


class NoRegularization(Probe):
    name: ProbeName = "no_regularization"
    priority = 20
    phase = 1

    def applies(self, ctx: ProbeContext) -> bool:
        t = ctx.spec.training
        return bool(t.l1 or t.l2 or t.weight_decay) or "dropout" in layer_types(ctx.spec.model)

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        t = ctx.spec.training
        changes: dict[str, object] = {k: 0.0 for k in ("l1", "l2", "weight_decay") if getattr(t, k)}
        changes = {f"training.{k}": v for k, v in changes.items()}
        training = t.model_copy(update={"l1": 0.0, "l2": 0.0, "weight_decay": 0.0})
        if ctx.spec.model.onnx is not None:
            program = ctx.spec.model.program
            off = [i for i, kind in enumerate(layer_types(ctx.spec.model)) if kind == "dropout"]
            model = ctx.spec.model
            if off:
                changes["model.onnx"] = f"dropout nodes {off} pass their input through"
                model = model.model_copy().with_program(program.without_dropout())
            return [ProbeRun(name=self.name, family=self.name, changes=changes, model=model, training=training)]
        layers = layer_dicts(ctx.spec.model)
        dropped = [i for i, layer in enumerate(layers) if layer["type"] == "dropout"]
        if dropped:
            changes["model.layers"] = f"dropout layers {dropped} removed"
        kept = [layer for layer in layers if layer["type"] != "dropout"]
        return [self.with_layers(ctx, kept, changes, t.model_copy(update={"l1": 0.0, "l2": 0.0, "weight_decay": 0.0}))]
