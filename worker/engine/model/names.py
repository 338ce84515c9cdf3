"""The names results use for layers."""

from __future__ import annotations

from worker.contract.spec import ModelSpec


def layer_names(model_spec: ModelSpec) -> list[str]:
    """``"{index}.{type}"`` for each layer, e.g. ``["0.linear", "1.relu"]``."""
    return [f"{index}.{layer.type}" for index, layer in enumerate(model_spec.layers)]


def layer_types(model_spec: ModelSpec) -> list[str]:
    """Each layer's type in order; for an uploaded ONNX model each node's kind (``"linear"`` for a Gemm)."""
    if model_spec.onnx is not None:
        program = model_spec.program
        return list(program.kinds()) if program is not None else []
    return [layer.type for layer in model_spec.layers]
