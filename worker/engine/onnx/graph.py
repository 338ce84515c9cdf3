"""The interpreter: an accepted ONNX graph as a trainable ``torch.nn.Module``, no code generated.

Each op of ``worker.data.onnx.parse.SUPPORTED_OPS`` is one function of ``OPS`` on torch tensors; ``forward``
walks the nodes in order, reading and writing values by name in a dictionary. Trainable initializers
live in a ``ParameterDict`` and BatchNormalization's running statistics in buffers, both under keys made
from their position (``p0``, ``s0``), never from a name in the file. BatchNormalization uses batch
statistics in training mode and the running ones in eval mode, Dropout drops only in training mode,
whatever the exported graph says.

Shapes: the input is ``[B, *sample_shape]`` as the exporter traced it; ``check_sizes`` runs the graph
once on the ``meta`` device (shapes only, nothing allocated) and refuses a graph whose values grow past
``MAX_VALUES_PER_SAMPLE`` per sample or that mixes samples of a batch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from worker.data.onnx.fit import MAX_VALUES_PER_SAMPLE as MAX_VALUES
from worker.data.onnx.program import Node, Program
from worker.engine.onnx.recurrent import RecurrentError, gru, lstm

#: Most values one node may produce per sample of the batch (16 Mi float32 values, 64 MiB a sample);
#: the pre-flight check (``worker.data.onnx.fit``) holds inferred shapes to the same bound.
MAX_VALUES_PER_SAMPLE = MAX_VALUES


class GraphError(ValueError):
    """The graph cannot run on this input (an attribute the interpreter does not support, a bad shape)."""


Env = dict[str, torch.Tensor]
OpFn = Callable[["OnnxModule", Node, list[Any]], Any]

#: Cast targets by ONNX type number; every float width trains as float32, as the initializers do.
_DTYPES: dict[int, torch.dtype] = {
    1: torch.float32,
    2: torch.uint8,
    3: torch.int8,
    5: torch.int16,
    6: torch.int32,
    7: torch.int64,
    9: torch.bool,
    10: torch.float32,
    11: torch.float32,
    16: torch.float32,
}


def _ints(t: Any) -> list[int]:
    """A shape-like tensor (or list) as Python ints."""
    if isinstance(t, torch.Tensor):
        return [int(v) for v in t.reshape(-1).tolist()]
    return [int(v) for v in t]


def _pads2d(node: Node) -> tuple[int, int]:
    pads = list(node.attrs.get("pads", [0, 0, 0, 0]))
    if node.attrs.get("auto_pad", "NOTSET") not in ("NOTSET", ""):
        raise GraphError(
            f"{node.op} with auto_pad {node.attrs['auto_pad']!r} is not supported; export with explicit pads"
        )
    if len(pads) != 4 or pads[0] != pads[2] or pads[1] != pads[3]:
        raise GraphError(f"{node.op} with pads {pads} is not supported: only 2-D, symmetric padding")
    return int(pads[0]), int(pads[1])


def _pair(node: Node, name: str, default: int) -> tuple[int, int]:
    v = list(node.attrs.get(name, [default, default]))
    if len(v) != 2:
        raise GraphError(f"{node.op} with {name} {v}: only 2-D is supported")
    return int(v[0]), int(v[1])


def _binary(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> OpFn:
    def op(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
        a, b = xs
        if a.device != b.device:  # an integer constant kept on the CPU meets a value on the device
            a, b = (a.to(b.device), b) if a.device.type == "cpu" else (a, b.to(a.device))
        return fn(a, b)

    return op


def _div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if not a.is_floating_point() and not b.is_floating_point():
        return torch.div(a, b, rounding_mode="trunc")
    return a / b


def _gemm(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    a, b = xs[0], xs[1]
    c = xs[2] if len(xs) > 2 else None
    alpha, beta = float(node.attrs.get("alpha", 1.0)), float(node.attrs.get("beta", 1.0))
    ta, tb = int(node.attrs.get("transA", 0)), int(node.attrs.get("transB", 0))
    if not ta and tb and alpha == 1.0 and beta == 1.0:
        return F.linear(a, b, c)  # what nn.Linear computes: [B, in] x [out, in]^T + [out]
    y = alpha * ((a.t() if ta else a) @ (b.t() if tb else b))
    return y + beta * c if c is not None else y


def _conv(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    x, w = xs[0], xs[1]
    b = xs[2] if len(xs) > 2 else None
    if x.dim() != 4:
        raise GraphError(f"Conv on a {x.dim()}-D input is not supported: only 2-D convolutions ([B, C, H, W])")
    return F.conv2d(
        x,
        w,
        b,
        stride=_pair(node, "strides", 1),
        padding=_pads2d(node),
        dilation=_pair(node, "dilations", 1),
        groups=int(node.attrs.get("group", 1)),
    )


def _maxpool(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    if len(node.outputs) > 1 and node.outputs[1]:
        raise GraphError("MaxPool's indices output is not supported")
    x = xs[0]
    if x.dim() != 4:
        raise GraphError("MaxPool on a non-4-D input is not supported")
    k = _pair(node, "kernel_shape", 1)
    return F.max_pool2d(
        x,
        k,
        stride=_pair(node, "strides", 1),
        padding=_pads2d(node),
        dilation=_pair(node, "dilations", 1),
        ceil_mode=bool(node.attrs.get("ceil_mode", 0)),
    )


def _avgpool(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    x = xs[0]
    if x.dim() != 4:
        raise GraphError("AveragePool on a non-4-D input is not supported")
    return F.avg_pool2d(
        x,
        _pair(node, "kernel_shape", 1),
        stride=_pair(node, "strides", 1),
        padding=_pads2d(node),
        ceil_mode=bool(node.attrs.get("ceil_mode", 0)),
        count_include_pad=bool(node.attrs.get("count_include_pad", 0)),
    )


def _batchnorm(m: OnnxModule, node: Node, xs: list[Any]) -> tuple[torch.Tensor, ...]:
    x, scale, bias, mean, var = xs[:5]
    # ONNX: running = running * momentum + batch * (1 - momentum); torch's momentum is the other share
    momentum = 1.0 - float(node.attrs.get("momentum", 0.9))
    y = F.batch_norm(
        x, mean, var, scale, bias, training=m.training, momentum=momentum, eps=float(node.attrs.get("epsilon", 1e-5))
    )
    return (y, mean, var)


def _dropout(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    if len(node.outputs) > 1 and node.outputs[1] and m.consumed(node.outputs[1]):
        raise GraphError("Dropout's mask output is not supported")
    ratio = node.attrs.get("ratio", 0.5)
    if len(node.inputs) > 1 and node.inputs[1]:
        fixed = m.static(node.inputs[1])
        if fixed is None:
            raise GraphError("Dropout whose ratio is computed in the graph is not supported")
        ratio = fixed.reshape(-1)[0]
    return F.dropout(xs[0], p=float(ratio), training=m.training)


def _flatten(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    x = xs[0]
    axis = int(node.attrs.get("axis", 1))
    axis = axis + x.dim() if axis < 0 else axis
    return x.reshape(math.prod(x.shape[:axis]), -1)


def _reshape(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    x, shape = xs[0], _ints(xs[1])
    if not int(node.attrs.get("allowzero", 0)):
        shape = [x.shape[i] if d == 0 else d for i, d in enumerate(shape)]
    return x.reshape(shape)


def _transpose(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    x = xs[0]
    perm = node.attrs.get("perm") or list(range(x.dim()))[::-1]
    return x.permute(*[int(p) for p in perm])


def _softmax(fn: Callable[..., torch.Tensor]) -> OpFn:
    def op(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
        return fn(xs[0], dim=int(node.attrs.get("axis", -1)))

    return op


def _constant(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    return m.constant(node.outputs[0])


def _shape(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    dims = list(xs[0].shape)
    start, end = int(node.attrs.get("start", 0)), node.attrs.get("end")
    return torch.tensor(dims[start : None if end is None else int(end)], dtype=torch.int64)


def _gather(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    data, idx = xs
    axis = int(node.attrs.get("axis", 0))
    axis = axis + data.dim() if axis < 0 else axis
    idx = idx.to(data.device).long()
    size = data.shape[axis]
    if (m.strict or idx.device.type == "cpu") and idx.numel() and (int(idx.min()) < -size or int(idx.max()) >= size):
        raise GraphError(
            f"Gather reads index {int(idx.max()) if int(idx.max()) >= size else int(idx.min())} of an "
            f"axis of size {size}: an id outside the table"
        )
    idx = torch.where(idx < 0, idx + size, idx)
    out = data.index_select(axis, idx.reshape(-1))  # an embedding: [V, D] by [B, T] -> [B*T, D]
    return out.reshape((*data.shape[:axis], *idx.shape, *data.shape[axis + 1 :]))


def _axes(node: Node, xs: list[Any]) -> list[int] | None:
    if len(xs) > 1 and xs[1] is not None:
        return _ints(xs[1])
    axes = node.attrs.get("axes")
    return [int(a) for a in axes] if axes is not None else None


def _unsqueeze(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    x, axes = xs[0], _axes(node, xs) or []
    rank = x.dim() + len(axes)
    for a in sorted(a + rank if a < 0 else a for a in axes):
        x = x.unsqueeze(a)
    return x


def _squeeze(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    x, axes = xs[0], _axes(node, xs)
    if axes is None:
        return x.squeeze()
    return x.squeeze(tuple(a + x.dim() if a < 0 else a for a in axes))


def _cast(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    to = int(node.attrs["to"])
    if to not in _DTYPES:
        raise GraphError(f"Cast to ONNX type {to} is not supported")
    return xs[0].to(_DTYPES[to])


def _reduce_mean(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    axes = _axes(node, xs)
    keep = bool(node.attrs.get("keepdims", 1))
    if axes is None or not axes:
        return xs[0].mean() if not keep else xs[0].mean(dim=tuple(range(xs[0].dim())), keepdim=True)
    return xs[0].mean(dim=tuple(axes), keepdim=keep)


def _slice(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    """ONNX Slice: ``starts``, ``ends``, optional ``axes`` and ``steps`` (inputs), clamped as the spec says."""
    x, starts, ends = xs[0], _ints(xs[1]), _ints(xs[2])
    axes = _ints(xs[3]) if len(xs) > 3 and xs[3] is not None else list(range(len(starts)))
    steps = _ints(xs[4]) if len(xs) > 4 and xs[4] is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise GraphError(f"Slice with {len(starts)} starts, {len(ends)} ends, {len(axes)} axes, {len(steps)} steps")
    index: list[slice] = [slice(None)] * x.dim()
    flips = []
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        axis = axis + x.dim() if axis < 0 else axis
        if not 0 <= axis < x.dim() or step == 0:
            raise GraphError(f"Slice on axis {axis} with step {step} of a {x.dim()}-D value")
        dim = int(x.shape[axis])
        start, end = start + dim if start < 0 else start, end + dim if end < 0 else end
        if step > 0:
            index[axis] = slice(min(max(start, 0), dim), min(max(end, 0), dim), step)
        else:
            # a backwards slice: the same elements as a forward one over the flipped axis
            first, stop = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
            index[axis] = slice(dim - 1 - first, dim - 1 - stop, -step)
            flips.append(axis)
    if flips:
        x = x.flip(flips)
    return x[tuple(index)]


def _split(m: OnnxModule, node: Node, xs: list[Any]) -> tuple[torch.Tensor, ...]:
    x = xs[0]
    axis = int(node.attrs.get("axis", 0))
    sizes = _ints(xs[1]) if len(xs) > 1 and xs[1] is not None else node.attrs.get("split")
    if sizes is None:
        parts = int(node.attrs.get("num_outputs", len(node.outputs)))
        dim = int(x.shape[axis])
        size = -(-dim // parts)  # the last part takes what is left
        sizes = [min(size, dim - k * size) for k in range(parts)]
    return tuple(x.split([int(v) for v in sizes], dim=axis))


def _mod(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    fn = torch.fmod if int(node.attrs.get("fmod", 0)) else torch.remainder
    return _binary(fn)(m, node, xs)  # type: ignore[no-any-return]


def _layer_norm(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    """ONNX LayerNormalization over the axes from ``axis`` on; Mean and InvStdDev outputs are not run."""
    if any(out and m.consumed(out) for out in node.outputs[1:]):
        raise GraphError("LayerNormalization's Mean and InvStdDev outputs are not supported")
    x, scale = xs[0], xs[1]
    bias = xs[2] if len(xs) > 2 else None
    axis = int(node.attrs.get("axis", -1))
    axis = axis + x.dim() if axis < 0 else axis
    eps = float(node.attrs.get("epsilon", 1e-5))
    shape = tuple(x.shape[axis:])
    if tuple(scale.shape) == shape and (bias is None or tuple(bias.shape) == shape):
        return F.layer_norm(x, shape, scale, bias, eps)  # what nn.LayerNorm computes
    dims = tuple(range(axis, x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps) * scale
    return y + bias if bias is not None else y


def _constant_of_shape(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    """A tensor of the shape given, filled with the ``value`` attribute (0.0 by default); refused before it is
    allocated when it would hold more than ``MAX_VALUES_PER_SAMPLE`` values per sample of the batch."""
    shape = _ints(xs[0])
    if any(d < 0 for d in shape):
        raise GraphError(f"ConstantOfShape with shape {shape}")
    if math.prod(shape) > MAX_VALUES_PER_SAMPLE * m.batch:
        raise GraphError(f"ConstantOfShape asks for {shape}: more than {MAX_VALUES_PER_SAMPLE} values per sample")
    value = node.attrs.get("value")
    fill = torch.from_numpy(np.array(value).reshape(-1)[:1]) if value is not None else torch.zeros(1)
    dtype = torch.float32 if fill.is_floating_point() else fill.dtype
    device = m.device if fill.is_floating_point() else torch.device("cpu")  # integers stay shapes, on the CPU
    return torch.full(shape, fill.item(), dtype=dtype, device=device)


def _where(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    cond, a, b = xs
    device = next((t.device for t in (a, b, cond) if t.device.type != "cpu"), cond.device)
    return torch.where(cond.to(device).bool(), a.to(device), b.to(device))


def _recurrent(fn: Callable[[dict[str, Any], list[Any]], tuple[torch.Tensor, ...]]) -> OpFn:
    def op(m: OnnxModule, node: Node, xs: list[Any]) -> tuple[torch.Tensor, ...]:
        try:
            return fn(node.attrs, xs)
        except RecurrentError as exc:
            raise GraphError(str(exc)) from exc

    return op


def _gelu(m: OnnxModule, node: Node, xs: list[Any]) -> torch.Tensor:
    return F.gelu(xs[0], approximate="tanh" if node.attrs.get("approximate", "none") == "tanh" else "none")


def _unary(fn: Callable[[torch.Tensor], torch.Tensor]) -> OpFn:
    return lambda m, node, xs: fn(xs[0])


#: Every op the interpreter runs: op type -> function of (module, node, input values).
OPS: dict[str, OpFn] = {
    "Gemm": _gemm,
    "MatMul": _binary(torch.matmul),
    "Add": _binary(torch.add),
    "Sub": _binary(torch.sub),
    "Mul": _binary(torch.mul),
    "Div": _binary(_div),
    "Pow": _binary(torch.pow),
    "Neg": _unary(torch.neg),
    "Relu": _unary(F.relu),
    "LeakyRelu": lambda m, node, xs: F.leaky_relu(xs[0], float(node.attrs.get("alpha", 0.01))),
    "Sigmoid": _unary(torch.sigmoid),
    "Tanh": _unary(torch.tanh),
    "Elu": lambda m, node, xs: F.elu(xs[0], float(node.attrs.get("alpha", 1.0))),
    "Gelu": _gelu,
    "Erf": _unary(torch.erf),
    "Sqrt": _unary(torch.sqrt),
    "Softmax": _softmax(F.softmax),
    "LogSoftmax": _softmax(F.log_softmax),
    "Conv": _conv,
    "MaxPool": _maxpool,
    "AveragePool": _avgpool,
    "GlobalAveragePool": lambda m, node, xs: xs[0].mean(dim=tuple(range(2, xs[0].dim())), keepdim=True),
    "BatchNormalization": _batchnorm,
    "Dropout": _dropout,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Transpose": _transpose,
    "Concat": lambda m, node, xs: torch.cat(xs, dim=int(node.attrs["axis"])),
    "Identity": _unary(lambda x: x),
    "Constant": _constant,
    "Shape": _shape,
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Cast": _cast,
    "ReduceMean": _reduce_mean,
    "Slice": _slice,
    "Split": _split,
    "Mod": _mod,
    "Equal": _binary(torch.eq),
    "Where": _where,
    "LayerNormalization": _layer_norm,
    "ConstantOfShape": _constant_of_shape,
    "LSTM": _recurrent(lstm),
    "GRU": _recurrent(gru),
}


def _constant_value(node: Node) -> np.ndarray:
    a = node.attrs
    if "value" in a:
        return np.asarray(a["value"])
    for key, dtype in (
        ("value_float", np.float32),
        ("value_floats", np.float32),
        ("value_int", np.int64),
        ("value_ints", np.int64),
    ):
        if key in a:
            return np.asarray(a[key], dtype=dtype)
    raise GraphError(f"Constant with attributes {sorted(a)} is not supported")


class OnnxModule(nn.Module):
    """The graph as a module: ``forward(x)`` for ``x`` of ``[B, *sample_shape]``.

    ``params`` holds the trainable initializers; BatchNormalization's running statistics (``s3``) and the
    float constants (``k3``, ``c3``) are buffers; integer constants (shapes, axes, indices) stay on the
    CPU as plain tensors, so shapes are always known, also on the ``meta`` device.
    """

    def __init__(self, program: Program) -> None:
        super().__init__()
        self.program = program
        self.params = nn.ParameterDict()
        self._keys: dict[str, str] = {}  # initializer or constant name -> "params.p3" / buffer "s3" / "k3"
        self._ints: dict[str, torch.Tensor] = {}
        first_use = {name: i for i, node in reversed(list(enumerate(program.nodes))) for name in node.inputs}
        ordered = sorted(program.initializers, key=lambda name: (first_use.get(name, len(program.nodes)), name))
        for n, name in enumerate(ordered):
            array = np.array(program.initializers[name])  # a copy: the program is never written to
            tensor = torch.from_numpy(array)
            if name in program.parameters:
                self.params[f"p{n}"] = nn.Parameter(tensor)
                self._keys[name] = f"params.p{n}"
            elif tensor.is_floating_point():
                key = f"s{n}" if name in program.statistics else f"k{n}"
                self.register_buffer(key, tensor)
                self._keys[name] = key
            else:
                self._ints[name] = tensor
        for node in program.nodes:
            if node.op == "Constant":
                value = torch.from_numpy(np.array(_constant_value(node)))
                if value.is_floating_point():
                    key = f"c{len(self._keys)}"
                    self.register_buffer(key, value)
                    self._keys[node.outputs[0]] = key
                else:
                    self._ints[node.outputs[0]] = value
        self._static = {
            **program.initializers,
            **{n.outputs[0]: _constant_value(n) for n in program.nodes if n.op == "Constant"},
        }
        self._consumers = {name for node in program.nodes for name in node.inputs} | {program.output}
        self._integer_input = program.integer_input
        #: Check every Gather's indices against its table, also on an accelerator (``check_runs`` sets it).
        self.strict = False
        #: The batch size and device of the current forward pass (ops that allocate use them).
        self.batch = 1
        self.device = torch.device("cpu")

    def consumed(self, name: str) -> bool:
        """Whether any node or the graph's output reads ``name``."""
        return name in self._consumers

    def static(self, name: str) -> np.ndarray | None:
        """The value of an initializer or Constant as exported (None for a computed value)."""
        return self._static.get(name)

    def constant(self, name: str) -> torch.Tensor:
        if name in self._ints:
            return self._ints[name]
        key = self._keys[name]
        if key.startswith("params."):
            return self.params[key[len("params.") :]]
        return getattr(self, key)  # type: ignore[no-any-return]

    def parameters_of(self, names: Sequence[str]) -> list[nn.Parameter]:
        """The trainable tensors behind initializer ``names`` (those that train), in that order."""
        return [
            self.params[self._keys[n][len("params.") :]] for n in names if self._keys.get(n, "").startswith("params.")
        ]

    def forward(
        self,
        x: torch.Tensor,
        capture: Sequence[int] = (),
        caught: dict[int, torch.Tensor] | None = None,
        limit: int | None = None,
        shapes: dict[int, list[int]] | None = None,
    ) -> torch.Tensor:
        """The graph's output for ``x``; the outputs of the nodes at ``capture`` go into ``caught``.

        ``limit``: most values a node may produce per sample (``GraphError`` beyond it); ``shapes``
        receives each node's first output shape.
        """
        prog = self.program
        if self._integer_input:
            x = x.long()  # token ids arrive as float32 with the data
        env: dict[str, Any] = {prog.input: x}
        for name in self._keys:
            env[name] = self.constant(name)
        env.update(self._ints)
        batch = max(int(x.shape[0]), 1) if x.dim() else 1
        self.batch, self.device = batch, x.device
        for i, node in enumerate(prog.nodes):
            if node.op == "Constant":
                continue
            xs = [env[name] if name else None for name in node.inputs]
            out = OPS[node.op](self, node, xs)
            outs = out if isinstance(out, tuple) else (out,)
            for name, value in zip(node.outputs, outs, strict=False):
                if name:
                    if limit is not None and value.numel() > limit * batch:
                        raise GraphError(
                            f"node {i} ({node.op}) produces {list(value.shape)}: more than {limit} values per sample"
                        )
                    env[name] = value
            if caught is not None and i in capture:
                caught[i] = outs[0]
            if shapes is not None:
                shapes[i] = list(outs[0].shape)
        return env[prog.output]  # type: ignore[no-any-return]


def check_sizes(
    module: OnnxModule, sample_shape: tuple[int, ...], limit: int = MAX_VALUES_PER_SAMPLE
) -> tuple[int, ...]:
    """The per-sample output shape for samples of ``sample_shape``, found on the ``meta`` device
    (nothing allocated); ``GraphError`` for a graph that does not run on them, grows a value past
    ``limit`` per sample or mixes the samples of a batch (a batch size fixed in a Reshape)."""
    import copy

    shadow = copy.deepcopy(module).to("meta")
    outs = []
    seen: list[dict[int, list[int]]] = []
    for batch in (2, 3):
        x = torch.empty((batch, *sample_shape), device="meta")
        seen.append({})
        try:
            with torch.no_grad():
                out = shadow(x, limit=limit, shapes=seen[-1])
        except GraphError:
            raise
        except Exception as exc:  # whatever an op makes of a hostile attribute, it is the graph's fault
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise GraphError(f"the graph does not run on samples of shape {list(sample_shape)}: {first}") from exc
        if out.dim() == 0 or int(out.shape[0]) != batch:
            raise GraphError(
                f"for a batch of {batch} samples the graph outputs {list(out.shape)}: it must keep the "
                "batch as its first dimension (export with a free batch axis, as "
                "lossdoctor.export_model does)"
            )
        outs.append(tuple(int(d) for d in out.shape[1:]))
    for i, two in seen[0].items():
        three = seen[1].get(i, two)
        if 2 * math.prod(three) > 3 * math.prod(two):
            # a value growing faster than the batch (x @ x^T is [B, B]) would grow with the square of
            # a real batch; it also mixes samples, which no per-sample model does
            raise GraphError(
                f"node {i} ({module.program.nodes[i].op}) computes {two} for 2 samples and {three} for "
                "3: it grows faster than the batch, mixing the samples of a batch"
            )
    return outs[0]
