"""Per-sample output shapes of a layer stack, computed as PyTorch computes them (torch-free).

Shapes exclude the batch dimension: a linear layer's input is ``[F]``, a conv2d's ``[C, H, W]``.
Convolution and pooling sizes use PyTorch's floor formula
``out = (size + 2 * padding - kernel_size) // stride + 1``; pooling's stride defaults to its kernel.
"""

from __future__ import annotations

import math

from worker.contract.errors import SpecError
from worker.contract.spec import AvgPool2d, BatchNorm, Conv2d, Layer, Linear, MaxPool2d

Shape = tuple[int, ...]


def _fail(index: int, layer: Layer, message: str) -> SpecError:
    """A SpecError on ``model.layers[index]`` whose message starts "layer i (type)"."""
    return SpecError(("model", "layers", index), f"layer {index} ({layer.type}) {message}")


def _window(index: int, layer: Layer, size: int, name: str, kernel: int, stride: int, padding: int) -> int:
    """One spatial output size; refuses a kernel larger than the padded input."""
    padded = size + 2 * padding
    if kernel > padded:
        raise _fail(
            index,
            layer,
            f"has kernel_size {kernel} but its input {name} is only {size}"
            + (f" ({padded} with padding {padding})" if padding else "")
            + "; use a smaller kernel_size"
            + (", more padding" if layer.type == "conv2d" else "")
            + " or shrink the input less in the layers before it",
        )
    return (padded - kernel) // stride + 1


def _needs_image(index: int, layer: Layer, shape: Shape) -> tuple[int, int, int]:
    """``(C, H, W)`` of a conv/pool layer's input, or a SpecError saying how to get one."""
    if len(shape) != 3:
        size = math.prod(shape)
        side = math.isqrt(size)
        example = f"e.g. {[1, side, side]}" if side * side == size else f"whose product is {size}"
        raise _fail(
            index,
            layer,
            f"needs a 3-D [channels, height, width] input per sample but gets {list(shape)}; "
            f"set data.shape to [channels, height, width], {example}",
        )
    return shape[0], shape[1], shape[2]


def layer_output(index: int, layer: Layer, shape: Shape) -> Shape:
    """The per-sample output shape of ``layer`` (at ``model.layers[index]``) for input ``shape``."""
    match layer:
        case Linear():
            if len(shape) != 1:
                raise _fail(
                    index,
                    layer,
                    f"needs a 1-D input per sample but gets {list(shape)}; insert a flatten layer before it",
                )
            return (layer.out_features,)
        case Conv2d():
            _, h, w = _needs_image(index, layer, shape)
            k, s, p = layer.kernel_size, layer.stride, layer.padding
            return (
                layer.out_channels,
                _window(index, layer, h, "height", k, s, p),
                _window(index, layer, w, "width", k, s, p),
            )
        case MaxPool2d() | AvgPool2d():
            c, h, w = _needs_image(index, layer, shape)
            k = layer.kernel_size
            s = layer.stride if layer.stride is not None else k
            return (c, _window(index, layer, h, "height", k, s, 0), _window(index, layer, w, "width", k, s, 0))
        case BatchNorm():
            if len(shape) not in (1, 3):
                raise _fail(
                    index,
                    layer,
                    f"needs a 1-D [features] or 3-D [channels, height, width] input per sample but gets {list(shape)}",
                )
            return shape
    if layer.type == "flatten":
        return (math.prod(shape),)
    # dropout, layernorm and the activations keep the shape.
    return shape


def infer_shapes(layers: list[Layer], sample_shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Each layer's per-sample output shape, in order, for samples of ``sample_shape``."""
    shapes: list[Shape] = []
    shape = tuple(int(d) for d in sample_shape)
    for index, layer in enumerate(layers):
        shape = layer_output(index, layer, shape)
        shapes.append(shape)
    return shapes
