"""Single ops of the interpreter against ``onnx.reference.ReferenceEvaluator``, the ONNX package's own
implementation of the operator specification: the same values for the same inputs and attributes."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from worker.data.onnx.program import Node, Program
from worker.engine.onnx.graph import OPS, OnnxModule

GEN = np.random.default_rng(0)
F32 = GEN.normal(size=(3, 4, 5)).astype(np.float32)


def _rnn_inputs(gates: int, dirs: int) -> list[np.ndarray]:
    steps, batch, width, hidden = 4, 2, 3, 5
    return [
        GEN.normal(size=s).astype(np.float32)
        for s in (
            (steps, batch, width),
            (dirs, gates * hidden, width),
            (dirs, gates * hidden, hidden),
            (dirs, 2 * gates * hidden),
        )
    ]


#: (op, inputs, attributes, number of outputs)
CASES: dict[str, tuple[str, list[np.ndarray], dict[str, Any], int]] = {
    "slice": ("Slice", [F32, np.array([1, -1]), np.array([3, -5]), np.array([1, 2]), np.array([1, -2])], {}, 1),
    "slice_clamped": ("Slice", [F32, np.array([-100]), np.array([1 << 40]), np.array([0])], {}, 1),
    "split_sizes": ("Split", [F32, np.array([1, 3])], {"axis": 1}, 2),
    "split_even": ("Split", [F32], {"axis": 2}, 5),
    "mod": ("Mod", [np.array([5, -5, 7, -7]), np.array([3, 3, -2, -2])], {}, 1),
    "fmod": ("Mod", [np.array([5.5, -5.5], dtype=np.float32), np.array([2.0, 2.0], dtype=np.float32)], {"fmod": 1}, 1),
    "equal_where": ("Where", [F32 > 0, F32, -F32], {}, 1),
    "equal": ("Equal", [np.array([1, 2, 3]), np.array([1, 0, 3])], {}, 1),
    "layernorm": (
        "LayerNormalization",
        [F32, np.ones(5, np.float32) * 2, np.full(5, 0.5, np.float32)],
        {"axis": -1, "epsilon": 1e-5},
        1,
    ),
    "layernorm_two_axes": ("LayerNormalization", [F32, GEN.normal(size=(4, 5)).astype(np.float32)], {"axis": 1}, 1),
    "constant_of_shape": (
        "ConstantOfShape",
        [np.array([2, 3])],
        {"value": helper.make_tensor("v", TensorProto.FLOAT, [1], [1.5])},
        1,
    ),
    "lstm": ("LSTM", _rnn_inputs(4, 1), {"hidden_size": 5}, 3),
    "lstm_bidirectional": ("LSTM", _rnn_inputs(4, 2), {"hidden_size": 5, "direction": "bidirectional"}, 3),
    "lstm_reverse": ("LSTM", _rnn_inputs(4, 1), {"hidden_size": 5, "direction": "reverse"}, 3),
    "gru": ("GRU", _rnn_inputs(3, 1), {"hidden_size": 5}, 2),
    "gru_before_reset": ("GRU", _rnn_inputs(3, 1), {"hidden_size": 5, "linear_before_reset": 1}, 2),
    "gru_bidirectional": (
        "GRU",
        _rnn_inputs(3, 2),
        {"hidden_size": 5, "direction": "bidirectional", "linear_before_reset": 1},
        2,
    ),
}


def reference(op: str, inputs: list[np.ndarray], attrs: dict[str, Any], outputs: int) -> list[np.ndarray]:
    names = [f"i{k}" for k in range(len(inputs))]
    node = helper.make_node(op, names, [f"o{k}" for k in range(outputs)], **attrs)
    values = [
        helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
        for n, a in zip(names, inputs, strict=True)
    ]
    outs = [helper.make_tensor_value_info(f"o{k}", TensorProto.UNDEFINED, None) for k in range(outputs)]
    model = helper.make_model(
        helper.make_graph([node], "one", values, outs), opset_imports=[helper.make_opsetid("", 17)]
    )
    return list(ReferenceEvaluator(model).run(None, dict(zip(names, inputs, strict=True))))


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_op_computes_what_the_onnx_reference_computes(case: str) -> None:
    op, inputs, attrs, outputs = CASES[case]
    want = reference(op, inputs, attrs, outputs)
    proto_attrs = helper.make_node(op, [], [], **attrs).attribute
    node = Node(
        op,
        tuple(f"i{k}" for k in range(len(inputs))),
        tuple(f"o{k}" for k in range(outputs)),
        {a.name: _plain(onnx.helper.get_attribute_value(a)) for a in proto_attrs},
    )
    module = OnnxModule(
        Program(
            input="i0",
            input_dtype="float32",
            output="o0",
            nodes=(node,),
            initializers={},
            parameters=frozenset(),
            statistics=frozenset(),
        )
    )
    got = OPS[op](module, node, [torch.from_numpy(np.ascontiguousarray(a)) for a in inputs])
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) >= len(want)
    for g, w in zip(got, want, strict=False):
        assert list(g.shape) == list(w.shape)
        np.testing.assert_allclose(g.numpy().astype(w.dtype), w, rtol=1e-5, atol=1e-6)


def _plain(value: Any) -> Any:
    if isinstance(value, onnx.TensorProto):
        return onnx.numpy_helper.to_array(value)
    return value.decode() if isinstance(value, bytes) else value
