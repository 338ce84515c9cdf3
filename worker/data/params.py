"""The number of trainable values a job's model holds, computed from the spec alone (torch-free).

Counted the way ``torch.nn`` allocates them for the modules ``worker.engine.model.build`` makes, layer by
layer, from each layer's per-sample input shape (``worker.data.shapes.infer_shapes``):

    linear       in_features * out_features (+ out_features with a bias)
    conv2d       in_channels * out_channels * kernel_size**2 (+ out_channels with a bias)
    batchnorm    2 * channels (scale and shift; the running statistics are buffers, not parameters)
    layernorm    2 * the number of values per sample (scale and shift over the whole sample)
    all others   0

The API refuses a model above ``LOSSDOCTOR_MAX_MODEL_PARAMETERS`` before any worker allocates it.
"""

from __future__ import annotations

import math

from worker.contract.spec import BatchNorm, Conv2d, Layer, LayerNorm, Linear, ModelSpec
from worker.data.shapes import infer_shapes


def layer_parameters(layer: Layer, in_shape: tuple[int, ...]) -> int:
    """Trainable values of one layer whose per-sample input has shape ``in_shape``."""
    match layer:
        case Linear():
            return in_shape[0] * layer.out_features + (layer.out_features if layer.bias else 0)
        case Conv2d():
            weights = in_shape[0] * layer.out_channels * layer.kernel_size**2
            return weights + (layer.out_channels if layer.bias else 0)
        case BatchNorm():
            return 2 * in_shape[0]
        case LayerNorm():
            return 2 * math.prod(in_shape)
    return 0


def count_parameters(model: ModelSpec, sample_shape: tuple[int, ...]) -> int:
    """Trainable values of the whole model for samples of ``sample_shape``; ``SpecError`` if shapes do not chain.

    For an uploaded ONNX model: the values of its trainable initializers, once its program is read
    (``worker.data.onnx.fit.resolve``), else 0 (the upload was held to the limit when it was accepted).
    """
    if model.onnx is not None:
        return int(model.program.parameter_count) if model.program is not None else 0
    out_shapes = infer_shapes(model.layers, sample_shape)
    in_shapes = [tuple(sample_shape), *out_shapes[:-1]]
    return sum(layer_parameters(layer, shape) for layer, shape in zip(model.layers, in_shapes, strict=True))
