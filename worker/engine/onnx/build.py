"""The trainable module for a spec's ONNX model: exported weights, or PyTorch's draws when ``init`` is set.

Layers, as the instruments and results name them, are the nodes that own parameters, in graph order:
``"{node index}.{kind}"`` (``"0.linear"`` for a Gemm, ``"1.batchnorm"``, ``"3.conv2d"``, ``"75.lstm"``); each
tensor belongs to the first node whose weight slot it reaches (``Program.owned``), weight first. The
activations the instruments watch are the Relu, Sigmoid and Tanh nodes, by node index too.

``reset_parameters`` draws every parameter the way PyTorch's module of that layer type draws it in its
own ``reset_parameters``: Gemm/MatMul and Conv weights Kaiming-uniform with ``a = sqrt(5)`` and biases
uniform in ``±1/sqrt(fan_in)``, BatchNormalization and LayerNormalization scale 1 and shift 0 (statistics
0 and 1), a Gather table (an embedding) standard normal, every LSTM and GRU tensor uniform in
``±1/sqrt(hidden_size)`` in the order the graph reads them (``nn.LSTM``'s order). A parameter of another
op (a scale fed to a Mul, the bias an Add puts after a MatMul) keeps its exported value.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from worker.contract.errors import SpecError
from worker.contract.spec import InitSpec, ModelSpec
from worker.data.onnx.program import Program
from worker.engine.model.init import InitChoice, apply_scheme
from worker.engine.onnx.graph import GraphError, OnnxModule, check_sizes

#: Kinds whose weight and bias take the spec's ``init`` schemes (as linear and conv2d layers do).
WEIGHT_KINDS = ("linear", "conv2d")


def program_of(model: ModelSpec) -> Program:
    program = model.program
    if not isinstance(program, Program):
        raise SpecError(("model", "onnx"), f"the uploaded model {model.onnx!r} was not read before training")
    return program


def layout(module: OnnxModule) -> list[tuple[int, str, list[nn.Parameter]]]:
    """The nodes owning parameters: (node index, kind, its tensors in input order, weight first)."""
    prog = module.program
    out = []
    for i, node in enumerate(prog.nodes):
        params = module.parameters_of(prog.owned(i))
        if params:
            out.append((i, node.kind, params))
    return out


def _weight_view(
    node_op: str, attrs: dict[str, object], weight: torch.Tensor, pos: int, flipped: bool = False
) -> torch.Tensor:
    """The weight as PyTorch's module stores it ([out, in, ...]), a view to draw into; ``flipped`` when it
    reaches the node through a 2-D Transpose (``nn.Linear``'s weight before a MatMul is stored [out, in])."""
    turn = (node_op == "Gemm" and not attrs.get("transB", 0)) or (node_op == "MatMul" and pos == 1)
    if turn != flipped:
        return weight.transpose(-1, -2)
    return weight


def reset_parameters(module: OnnxModule) -> None:
    """Draw every parameter as PyTorch draws its layer type, from the current CPU generator."""
    prog = module.program
    with torch.no_grad():
        for i, node in enumerate(prog.nodes):
            mine = [(prog.slots.get(n, 0), n) for n in prog.owned(i)]
            if not mine:
                continue
            if node.op in ("LSTM", "GRU"):
                hidden = int(node.attrs.get("hidden_size", 1))
                first = prog.first_read
                for _, n in sorted(mine, key=lambda m: first.get(m[1], 0)):  # nn.LSTM's / nn.GRU's order
                    nn.init.uniform_(module.parameters_of([n])[0], -1 / math.sqrt(hidden), 1 / math.sqrt(hidden))
                continue
            tensors = {pos: module.parameters_of([n])[0] for pos, n in mine}
            names = {pos: n for pos, n in mine}
            if node.op in ("Gemm", "Conv", "MatMul"):
                wpos = 1 if node.op != "MatMul" or 1 in tensors else 0
                weight = tensors.get(wpos)
                fan_in = 1
                if weight is not None and weight.dim() >= 2:
                    view = _weight_view(node.op, node.attrs, weight, wpos, names[wpos] in prog.transposed)
                    nn.init.kaiming_uniform_(view, a=math.sqrt(5))
                    fan_in = int(math.prod(view.shape[1:]))
                bias = tensors.get(2) if node.op != "MatMul" else None
                if bias is not None:
                    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                    nn.init.uniform_(bias, -bound, bound)
            elif node.op == "LayerNormalization":
                if 1 in tensors:
                    nn.init.ones_(tensors[1])
                if 2 in tensors:
                    nn.init.zeros_(tensors[2])
            elif node.op == "BatchNormalization":
                if 1 in tensors:
                    nn.init.ones_(tensors[1])
                if 2 in tensors:
                    nn.init.zeros_(tensors[2])
                for pos, fill in ((3, 0.0), (4, 1.0)):
                    if len(node.inputs) > pos and node.inputs[pos] in prog.statistics:
                        module.constant(node.inputs[pos]).fill_(fill)
            elif node.op == "Gather" and 0 in tensors:
                nn.init.normal_(tensors[0])


def apply_init(module: OnnxModule, init: InitSpec) -> None:
    """The spec's ``init`` schemes on the weight and bias of every Gemm, MatMul and Conv node."""
    for i, kind, params in layout(module):
        if kind not in WEIGHT_KINDS:
            continue
        for key, tensor in zip(("weight", "bias"), params, strict=False):
            scheme = getattr(init, key)
            if scheme is None or (key == "weight" and tensor.dim() < 2):
                continue
            with torch.no_grad():
                apply_scheme(tensor.data, InitChoice(scheme, init, ("model", "init", key)))
        del i


def build_onnx(model: ModelSpec, *, seed: int) -> OnnxModule:
    """The module for the spec's uploaded graph: its exported weights, or with ``model.init`` set, fresh
    draws seeded by ``seed`` (inside a forked RNG, the caller's RNG untouched) and then the schemes."""
    module = OnnxModule(program_of(model))
    if model.init is not None:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(seed)
            reset_parameters(module)
            apply_init(module, model.init)
    return module


def onnx_output_shape(model: ModelSpec, sample_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The per-sample output shape for samples of ``sample_shape``; ``SpecError`` for a graph that does
    not run on them, grows a value too large, or mixes the samples of a batch."""
    try:
        return check_sizes(OnnxModule(program_of(model)), sample_shape)
    except GraphError as exc:
        raise SpecError(("model", "onnx"), str(exc)) from exc


#: Samples per forward pass of ``check_runs``.
CHUNK = 4096


def check_runs(model: ModelSpec, inputs: list[torch.Tensor]) -> None:
    """Run the graph once in eval mode over every sample of ``inputs`` (``[N, *sample_shape]`` each) and
    turn a failure (an id outside an embedding's table, an op that refuses these values) into a
    ``SpecError``, before any training starts."""
    module = OnnxModule(program_of(model)).to(inputs[0].device)
    module.eval()
    module.strict = True
    try:
        with torch.no_grad():
            for x in inputs:
                for i in range(0, int(x.shape[0]), CHUNK):
                    module(x[i : i + CHUNK])
    except Exception as exc:  # whatever an op makes of these values, it is the model's, not the service's
        first = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise SpecError(("model", "onnx"), f"the model does not run on the data: {first}") from exc
