"""ONNX files for tests, written with ``onnx.helper`` (torch-free): a small Gemm MLP as an exporter writes
it, and hostile variants of it (code in a node name, external data, a foreign op domain, ops the
interpreter does not run, a giant intermediate, too many parameters, too many nodes, a truncated file)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

#: A node name that would run code if anything ever turned node names into source.
CODE_NAME = "x\"); import os; os.system('touch /tmp/lossdoctor-pwned'); print(\"'''"


def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(array.astype(np.float32), name)


def mlp(
    n_in: int = 4,
    hidden: int = 8,
    n_out: int = 3,
    *,
    node_name: str = "/0/Gemm",
    seed: int = 0,
    extra_nodes: list[onnx.NodeProto] | None = None,
    extra_inits: list[TensorProto] | None = None,
    domains: list[tuple[str, int]] | None = None,
    output: str = "output",
) -> onnx.ModelProto:
    """Gemm -> Relu -> Gemm on ``[batch, n_in]``, weights listed as inputs too (as ``torch.onnx.export`` does)."""
    rng = np.random.default_rng(seed)
    inits = [
        _init("w0", rng.normal(0, 0.5, (hidden, n_in))),
        _init("b0", np.zeros(hidden)),
        _init("w1", rng.normal(0, 0.5, (n_out, hidden))),
        _init("b1", np.zeros(n_out)),
    ]
    nodes = [
        helper.make_node("Gemm", ["input", "w0", "b0"], ["h0"], name=node_name, transB=1),
        helper.make_node("Relu", ["h0"], ["h1"], name="/1/Relu"),
        helper.make_node("Gemm", ["h1", "w1", "b1"], ["logits"], name="/2/Gemm", transB=1),
    ]
    nodes += extra_nodes or []
    last = nodes[-1].output[0] if extra_nodes else "logits"
    nodes.append(helper.make_node("Identity", [last], [output], name="out"))
    inits += extra_inits or []
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", n_in])]
    inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in inits]
    graph = helper.make_graph(
        nodes,
        "mlp",
        inputs,
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["batch", n_out])],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", 17)] + [helper.make_opsetid(d, v) for d, v in (domains or [])]
    return helper.make_model(graph, opset_imports=opsets, producer_name="tests")


def external_data(location: str = "../../../../etc/passwd") -> onnx.ModelProto:
    """The MLP with its first weight's data said to live in a file outside the upload, at ``location``
    (relative to the server's working directory by default; an absolute path works the same way)."""
    model = mlp()
    w = model.graph.initializer[0]
    w.ClearField("raw_data")
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", location
    return model


def foreign_domain() -> onnx.ModelProto:
    """The MLP followed by an op of a vendor domain."""
    node = helper.make_node("FusedGelu", ["logits"], ["fused"], domain="com.microsoft")
    return mlp(extra_nodes=[node], domains=[("com.microsoft", 1)])


def unsupported_ops() -> onnx.ModelProto:
    """The MLP followed by Tile and Expand: ops that a graph asking for a giant tensor uses, not run here."""
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20], dtype=np.int64), "giant")
    nodes = [
        helper.make_node("Tile", ["logits", "giant"], ["tiled"]),
        helper.make_node("Expand", ["logits", "giant"], ["big"]),
    ]
    return mlp(extra_nodes=nodes, extra_inits=[shape])


def giant_padding() -> onnx.ModelProto:
    """A Conv whose padding makes a 2 x 20001 x 20001 value from a 1 x 1 image: 800 million values."""
    w = _init("w", np.ones((2, 1, 1, 1)))
    node = helper.make_node("Conv", ["input", "w"], ["y"], pads=[10_000] * 4, kernel_shape=[1, 1])
    flat = helper.make_node("Flatten", ["y"], ["output"], axis=1)
    graph = helper.make_graph(
        [node, flat],
        "giant",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 1, 1])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", None])],
        initializer=[w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def two_inputs() -> onnx.ModelProto:
    """The MLP with a second data input added to its first layer's output."""
    model = mlp(extra_nodes=[helper.make_node("Add", ["logits", "other"], ["summed"])])
    model.graph.input.append(helper.make_tensor_value_info("other", TensorProto.FLOAT, ["batch", 3]))
    return model


def dangling_input() -> onnx.ModelProto:
    """A graph onnx.checker refuses: a node reads a value nothing defines."""
    return mlp(extra_nodes=[helper.make_node("Add", ["logits", "nowhere"], ["summed"])])


def to_bytes(model: onnx.ModelProto) -> bytes:
    return model.SerializeToString()


def giant_constant() -> onnx.ModelProto:
    """The MLP plus a ConstantOfShape of 2^20 x 2^20 zeros added to its output: a 4 TiB value."""
    shape = numpy_helper.from_array(np.array([1 << 20, 1 << 20], dtype=np.int64), "giant")
    nodes = [
        helper.make_node("ConstantOfShape", ["giant"], ["zeros"]),
        helper.make_node("Add", ["logits", "zeros"], ["big"]),
    ]
    return mlp(extra_nodes=nodes, extra_inits=[shape])


def many_nodes(count: int) -> onnx.ModelProto:
    """The MLP followed by a chain of Identity nodes, ``count`` nodes in all (at least 5)."""
    chain = [helper.make_node("Identity", ["logits" if i == 0 else f"id{i - 1}"], [f"id{i}"]) for i in range(count - 4)]
    return mlp(extra_nodes=chain)


def truncated(content: bytes) -> bytes:
    """The first half of a serialized model: what an interrupted upload leaves."""
    return content[: len(content) // 2]
