"""An accepted ONNX graph as plain data the interpreter walks: nodes in order, initializers as arrays.

Torch-free. ``Program.from_model`` reads a model that ``worker.data.onnx.parse.describe`` accepted. Tensor
names from the file are only keys of dictionaries; node names are dropped. Which float initializers
train is decided by the slots they feed (``WEIGHT_SLOTS``): a Gemm's or Conv's weight and bias, a
BatchNormalization's or LayerNormalization's scale and shift, either side of a MatMul or of an
elementwise Add/Sub/Mul (a bias or a scale), the table of a Gather (an embedding), an LSTM's or GRU's
W, R and B. An initializer reaches its slot directly or through ops that only move its values
(``VIEW_OPS``: the exporter transposes a Linear's weight before a MatMul, and slices and concatenates
an ``nn.LSTM``'s weights into ONNX's gate order); it trains as the original tensor, and the node that
it reaches owns it. BatchNormalization's running mean and variance are statistics (buffers); other
initializers are constants.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from worker.data.onnx.parse import FLOAT_TYPES, data_inputs

#: (op, input position) pairs whose float initializer is a trainable parameter.
WEIGHT_SLOTS: dict[str, frozenset[int]] = {
    "Gemm": frozenset({1, 2}),
    "Conv": frozenset({1, 2}),
    "BatchNormalization": frozenset({1, 2}),
    "MatMul": frozenset({0, 1}),
    "Add": frozenset({0, 1}),
    "Sub": frozenset({0, 1}),
    "Mul": frozenset({0, 1}),
    "Gather": frozenset({0}),
    "LayerNormalization": frozenset({1, 2}),
    "LSTM": frozenset({1, 2, 3}),
    "GRU": frozenset({1, 2, 3}),
}
#: Ops that only move values (input positions that carry them): a weight passes through them to its slot.
VIEW_OPS: dict[str, frozenset[int] | None] = {
    "Transpose": frozenset({0}),
    "Slice": frozenset({0}),
    "Reshape": frozenset({0}),
    "Unsqueeze": frozenset({0}),
    "Squeeze": frozenset({0}),
    "Identity": frozenset({0}),
    "Concat": None,
    "Split": frozenset({0}),
}
#: BatchNormalization's running statistics: state, not parameters.
STAT_SLOTS: frozenset[int] = frozenset({3, 4})
#: The contract's layer words for the ops that own parameters (results name layers "{node}.{kind}").
KINDS: dict[str, str] = {
    "Gemm": "linear",
    "MatMul": "linear",
    "Conv": "conv2d",
    "BatchNormalization": "batchnorm",
    "Gather": "embedding",
    "LayerNormalization": "layernorm",
    "LSTM": "lstm",
    "GRU": "gru",
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "Dropout": "dropout",
    "Softmax": "softmax",
    "LogSoftmax": "log_softmax",
    "LeakyRelu": "leaky_relu",
    "Elu": "elu",
    "Gelu": "gelu",
}


#: Input element types that hold ids (categories), by numpy name.
INTEGER_DTYPES: frozenset[str] = frozenset(
    {"int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"}
)


@dataclass(frozen=True)
class Node:
    """One op: its type, the names of the values it reads ('' for an omitted optional input) and writes,
    and its attributes as Python values (numpy arrays for tensors)."""

    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any]

    @property
    def kind(self) -> str:
        return KINDS.get(self.op, self.op.lower())


@dataclass(frozen=True)
class Program:
    """The graph to interpret: one input, one output, nodes in topological order, initializers."""

    input: str
    input_dtype: str
    output: str
    nodes: tuple[Node, ...]
    initializers: dict[str, np.ndarray]
    parameters: frozenset[str]
    statistics: frozenset[str]
    opset: int = 17
    owners: dict[str, int] = field(default_factory=dict)  # parameter -> index of the first node it reaches
    slots: dict[str, int] = field(default_factory=dict)  # parameter -> the input position it reaches there
    transposed: frozenset[str] = frozenset()  # parameters that reach it through a 2-D Transpose

    @property
    def parameter_count(self) -> int:
        """Values in the trainable initializers."""
        return sum(int(self.initializers[name].size) for name in self.parameters)

    @property
    def integer_input(self) -> bool:
        """Whether the graph's input holds integers (token ids), not measurements."""
        return self.input_dtype in INTEGER_DTYPES

    def owned(self, index: int) -> list[str]:
        """The parameters node ``index`` owns, by input position, then in the order the graph first reads them."""
        mine = [name for name, owner in self.owners.items() if owner == index]
        return sorted(mine, key=lambda name: (self.slots.get(name, 0), self.first_read.get(name, 0)))

    @property
    def first_read(self) -> dict[str, int]:
        """Each value's name -> the index of the first node that reads it."""
        return {name: i for i, node in reversed(list(enumerate(self.nodes))) for name in node.inputs}

    def kinds(self) -> list[str]:
        """Each node's layer word, in order (``"linear"`` for a Gemm, ``"relu"``, ``"constant"``)."""
        return [node.kind for node in self.nodes]

    def without_dropout(self) -> Program:
        """The same graph with every Dropout node passing its input through (an Identity)."""
        nodes = tuple(
            Node("Identity", node.inputs[:1], node.outputs[:1], {}) if node.op == "Dropout" else node
            for node in self.nodes
        )
        return replace(self, nodes=nodes)

    @classmethod
    def from_model(cls, model: onnx.ModelProto) -> Program:
        graph = model.graph
        inits = {t.name: as_plain(numpy_helper.to_array(t)) for t in graph.initializer}
        floats = {t.name for t in graph.initializer if t.data_type in FLOAT_TYPES}
        nodes = tuple(Node(n.op_type, tuple(n.input), tuple(n.output), _attrs(n)) for n in graph.node)
        params: set[str] = set()
        stats: set[str] = set()
        owners: dict[str, int] = {}
        slots: dict[str, int] = {}
        transposed: set[str] = set()
        # value -> the float initializers it moves (and those moved through an odd number of 2-D Transposes)
        moved: dict[str, tuple[frozenset[str], frozenset[str]]] = {
            name: (frozenset({name}), frozenset()) for name in floats
        }
        for i, node in enumerate(nodes):
            for pos, name in enumerate(node.inputs):
                if name not in moved:
                    continue
                sources, flipped = moved[name]
                if node.op == "BatchNormalization" and pos in STAT_SLOTS:
                    stats |= sources
                elif pos in WEIGHT_SLOTS.get(node.op, ()):
                    params.update(sources)
                    transposed.update(flipped)
                    for src in sorted(sources):
                        if src not in owners:
                            owners[src], slots[src] = i, pos
            if node.op in VIEW_OPS:
                carried = VIEW_OPS[node.op]
                ins = [
                    moved[n] for pos, n in enumerate(node.inputs) if n in moved and (carried is None or pos in carried)
                ]
                if ins:
                    sources = frozenset().union(*(a for a, _ in ins))
                    flipped = frozenset().union(*(b for _, b in ins))
                    perm = node.attrs.get("perm")
                    if node.op == "Transpose" and (perm is None or list(perm) == [1, 0]):
                        flipped = sources - flipped
                    for out in node.outputs:
                        if out:
                            moved[out] = (sources, flipped)
        inp = data_inputs(graph)[0]
        elem = inp.type.tensor_type.elem_type
        dtype = str(onnx.helper.tensor_dtype_to_np_dtype(elem)) if elem else "float32"
        versions = [op.version for op in model.opset_import if op.domain in ("", "ai.onnx")]
        return cls(
            input=inp.name,
            input_dtype=dtype,
            output=graph.output[0].name,
            nodes=nodes,
            initializers=inits,
            parameters=frozenset(params),
            statistics=frozenset(stats - params),
            opset=int(versions[0]) if versions else 17,
            owners=owners,
            slots=slots,
            transposed=frozenset(transposed & params),
        )


def as_plain(array: np.ndarray) -> np.ndarray:
    """Floats of any width (float16, bfloat16, float64) as float32, the precision the service trains in;
    integers and booleans as they are."""
    if array.dtype.kind in "iub":
        return array
    return np.asarray(array, dtype=np.float32)


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in node.attribute:
        value = onnx.helper.get_attribute_value(attr)
        if isinstance(value, onnx.TensorProto):
            value = as_plain(numpy_helper.to_array(value))
        elif isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        out[attr.name] = value
    return out
