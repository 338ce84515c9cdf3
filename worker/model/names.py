"""The names results use for layers."""

from __future__ import annotations

from worker.spec import ModelSpec


def layer_names(model_spec: ModelSpec) -> list[str]:
    """``"{index}.{type}"`` for each layer, e.g. ``["0.linear", "1.relu"]``."""
    return [f"{index}.{layer.type}" for index, layer in enumerate(model_spec.layers)]
