"""PyTorch's default init everywhere, in place of the spec's model-wide and per-layer inits."""

from __future__ import annotations

from worker.contract.spec import InitSpec, ModelSpec
from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun, as_model, layer_dicts

#: The init that re-draws an uploaded ONNX model's weights as PyTorch draws each layer type.
DEFAULT_INIT = InitSpec.model_validate({"weight": "default", "bias": "default"})


def custom_init(m: ModelSpec) -> bool:
    """The spec sets an init other than PyTorch's default, model-wide or on a layer; an uploaded ONNX
    model without ``init`` starts from its exported weights, which are not PyTorch's draws."""
    if m.onnx is not None and m.init is None:
        return True
    if m.init is not None and (m.init.weight not in (None, "default") or m.init.bias not in (None, "default")):
        return True
    return any(getattr(layer, "init", None) is not None for layer in m.layers)


class StandardInit(Probe):
    name: ProbeName = "standard_init"
    priority = 20
    phase = 1

    def applies(self, ctx: ProbeContext) -> bool:
        return custom_init(ctx.spec.model)

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        if ctx.spec.model.onnx is not None:
            # every parameter drawn as PyTorch's module of its layer type draws it (reset_parameters)
            return [
                ProbeRun(
                    name=self.name,
                    family=self.name,
                    changes={"model.init": "default"},
                    model=ctx.spec.model.model_copy(update={"init": DEFAULT_INIT}),
                    training=ctx.spec.training,
                )
            ]
        layers = layer_dicts(ctx.spec.model)
        for layer in layers:
            layer.pop("init", None)
        return [
            ProbeRun(
                name=self.name,
                family=self.name,
                changes={"model.init": "default"},
                model=as_model(layers, None),
                training=ctx.spec.training,
            )
        ]
