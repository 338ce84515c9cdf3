"""PyTorch's default init everywhere, in place of the spec's model-wide and per-layer inits."""

from __future__ import annotations

from worker.probes.base import Probe, ProbeContext, ProbeRun, as_model, layer_dicts
from worker.spec import ModelSpec


def custom_init(m: ModelSpec) -> bool:
    """The spec sets an init other than PyTorch's default, model-wide or on a layer."""
    if m.init is not None and (m.init.weight not in (None, "default") or m.init.bias not in (None, "default")):
        return True
    return any(getattr(layer, "init", None) is not None for layer in m.layers)


class StandardInit(Probe):
    name = "standard_init"
    priority = 20
    phase = 1

    def applies(self, ctx: ProbeContext) -> bool:
        return custom_init(ctx.spec.model)

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        layers = layer_dicts(ctx.spec.model)
        for layer in layers:
            layer.pop("init", None)
        return [ProbeRun(name="standard_init", family=self.name, changes={"model.init": "default"},
                         model=as_model(layers, None), training=ctx.spec.training)]
