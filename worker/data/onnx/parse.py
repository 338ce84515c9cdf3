"""Reading an uploaded ONNX file and deciding whether it may run, with the ``onnx`` package only.

Torch-free: the API calls ``read_model`` and ``describe`` on every upload and every job that names
one. Nothing in the file is ever run as code: its bytes are parsed as protobuf, its node names are
only ever data, no path inside it is opened (external data is refused), and only the ops in
``SUPPORTED_OPS`` of the standard domain pass. ``OnnxRefused`` says why a file is refused.

    read_model(content)            -> onnx.ModelProto (no external data loaded)
    describe(model, max_parameters, max_nodes) -> ModelInfo (input, output, parameter count, op counts)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import onnx
from google.protobuf.message import DecodeError
from onnx import AttributeProto, GraphProto, TensorProto

#: Ops the interpreter (``worker.engine.onnx.graph``) runs; every other op is refused by name.
SUPPORTED_OPS: frozenset[str] = frozenset(
    {
        "Gemm",
        "MatMul",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Neg",
        "Relu",
        "LeakyRelu",
        "Sigmoid",
        "Tanh",
        "Elu",
        "Gelu",
        "Erf",
        "Pow",
        "Sqrt",
        "Softmax",
        "LogSoftmax",
        "Conv",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "BatchNormalization",
        "Dropout",
        "Flatten",
        "Reshape",
        "Transpose",
        "Concat",
        "Identity",
        "Constant",
        "Shape",
        "Gather",
        "Unsqueeze",
        "Squeeze",
        "Cast",
        "ReduceMean",
        "Slice",
        "Split",
        "Mod",
        "Equal",
        "Where",
        "LayerNormalization",
        "ConstantOfShape",
        "LSTM",
        "GRU",
    }
)
#: Op domains accepted: the standard ONNX domain (written as "" or "ai.onnx").
STANDARD_DOMAINS: frozenset[str] = frozenset({"", "ai.onnx"})
#: Float element types whose initializers are counted as parameters.
FLOAT_TYPES: frozenset[int] = frozenset(
    {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
)
#: The oldest standard opset accepted (axes as inputs, Softmax over one axis).
MIN_OPSET = 13
#: Most nodes a graph may hold unless the caller says otherwise (the service's LOSSDOCTOR_MAX_MODEL_NODES).
MAX_NODES = 5_000


class OnnxRefused(ValueError):
    """The file is not a model this service will run; the message says why, in words."""


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: its name, its dims (an int, or a name or None for a free dim), its dtype."""

    name: str
    shape: list[int | str | None]
    dtype: str


@dataclass(frozen=True)
class ModelInfo:
    """What ``POST /v1/models`` answers about an accepted file."""

    input: TensorInfo
    output: TensorInfo
    parameters: int
    op_counts: dict[str, int]
    opset: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_model(content: bytes) -> onnx.ModelProto:
    """The file parsed as an ONNX model protobuf; no external data is loaded, nothing is run."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(content)
    except (DecodeError, ValueError, RuntimeError) as exc:
        raise OnnxRefused(
            f"the file is not an ONNX model: its protobuf does not parse (a truncated or corrupt file?): {exc}"
        ) from exc
    if not model.HasField("graph"):
        raise OnnxRefused("the file is not an ONNX model (it has no graph)")
    return model


def _graph_tensors(graph: GraphProto) -> Iterator[TensorProto]:
    """Every tensor stored in ``graph``: initializers, sparse ones, and those in node attributes, nested graphs too."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _graph_tensors(attr.g)
            for g in attr.graphs:
                yield from _graph_tensors(g)


def _refuse_external_data(model: onnx.ModelProto) -> None:
    for tensor in _graph_tensors(model.graph):
        if tensor.data_location == TensorProto.EXTERNAL or len(tensor.external_data):
            raise OnnxRefused(
                "the model keeps tensor data in external files (external data); this service never reads a path "
                "named in an upload: save the model with its weights inside the file (onnx.save without "
                "save_as_external_data)"
            )


def _refuse_domains(model: onnx.ModelProto) -> None:
    other = sorted({op.domain for op in model.opset_import if op.domain not in STANDARD_DOMAINS})
    other += sorted({n.domain for n in model.graph.node if n.domain not in STANDARD_DOMAINS} - set(other))
    if other:
        raise OnnxRefused(
            f"the model uses op domains other than the standard ONNX one: {other}; only standard ONNX ops are run"
        )
    if len(model.functions):
        raise OnnxRefused("the model defines its own functions; only standard ONNX ops are run")
    if len(model.graph.sparse_initializer):
        raise OnnxRefused("the model holds sparse initializers, which are not supported")


def opset_version(model: onnx.ModelProto) -> int:
    """The standard domain's opset the model was written for."""
    versions = [op.version for op in model.opset_import if op.domain in STANDARD_DOMAINS]
    return int(versions[0]) if versions else 0


def _refuse_ops(graph: GraphProto) -> Counter[str]:
    counts = Counter(node.op_type for node in graph.node)
    unsupported = sorted(op for op in counts if op not in SUPPORTED_OPS)
    if unsupported:
        raise OnnxRefused(
            f"the graph uses ops this service does not run: {unsupported}; supported: {sorted(SUPPORTED_OPS)}"
        )
    for node in graph.node:
        for attr in node.attribute:
            if attr.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS):
                raise OnnxRefused(f"node {node.op_type} carries a subgraph, which is not supported")
    return counts


def _dtype(elem_type: int) -> str:
    try:
        return str(onnx.helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, ValueError):
        return TensorProto.DataType.Name(elem_type).lower() if elem_type else "unknown"


def tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    """A graph input's or output's name, dims and dtype as declared in the file."""
    tensor_type = value.type.tensor_type
    dims: list[int | str | None] = []
    for d in tensor_type.shape.dim:
        dims.append(int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or None))
    return TensorInfo(name=value.name, shape=dims, dtype=_dtype(tensor_type.elem_type))


def data_inputs(graph: GraphProto) -> list[onnx.ValueInfoProto]:
    """The graph's inputs that are not initializers (an exporter may list its weights as inputs too)."""
    weights = {t.name for t in graph.initializer}
    return [value for value in graph.input if value.name not in weights]


def count_parameters(graph: GraphProto) -> int:
    """Values in the float initializers but BatchNormalization's running statistics: an upper bound on
    the weights the interpreter trains."""
    stats = {name for node in graph.node if node.op_type == "BatchNormalization" for name in node.input[3:5]}
    return sum(math.prod(t.dims) for t in graph.initializer if t.data_type in FLOAT_TYPES and t.name not in stats)


def describe(model: onnx.ModelProto, *, max_parameters: int, max_nodes: int = MAX_NODES) -> ModelInfo:
    """Check the model and say what it is; ``OnnxRefused`` naming the first reason it cannot run.

    Checked in order: the node count against ``max_nodes`` (first, so a huge graph costs nothing more
    than its parse), external data, op domains, unsupported ops, one data input and one output,
    the parameter count against ``max_parameters``, then ``onnx.checker``.
    """
    if len(model.graph.node) > max_nodes:
        raise OnnxRefused(
            f"the graph has {len(model.graph.node)} nodes; the limit is {max_nodes} (LOSSDOCTOR_MAX_MODEL_NODES)"
        )
    _refuse_external_data(model)
    _refuse_domains(model)
    if opset_version(model) < MIN_OPSET:
        raise OnnxRefused(
            f"the model is written for opset {opset_version(model)}; export it with opset "
            f"{MIN_OPSET} or later (lossdoctor.export_model uses 17)"
        )
    graph = model.graph
    counts = _refuse_ops(graph)
    inputs = data_inputs(graph)
    if len(inputs) != 1:
        raise OnnxRefused(
            f"the graph has {len(inputs)} data inputs {[v.name for v in inputs]}; it must have "
            "exactly one (the batch of samples); initializers listed as inputs do not count"
        )
    if len(graph.output) != 1:
        raise OnnxRefused(
            f"the graph has {len(graph.output)} outputs {[v.name for v in graph.output]}; it must "
            "have exactly one (the model's prediction)"
        )
    parameters = count_parameters(graph)
    if parameters > max_parameters:
        raise OnnxRefused(
            f"the model holds {parameters} parameters; the limit is {max_parameters} (LOSSDOCTOR_MAX_MODEL_PARAMETERS)"
        )
    try:
        onnx.checker.check_model(model)
    except (onnx.checker.ValidationError, ValueError) as exc:
        words = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise OnnxRefused(f"the model fails onnx.checker: {words}") from exc
    return ModelInfo(
        input=tensor_info(inputs[0]),
        output=tensor_info(graph.output[0]),
        parameters=parameters,
        op_counts=dict(sorted(counts.items())),
        opset=opset_version(model),
    )
