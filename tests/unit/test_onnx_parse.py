"""What the torch-free reader refuses and why, and what it says about a file it accepts."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tests import onnx_files
from worker.contract.errors import SpecError
from worker.contract.spec import ModelSpec
from worker.data.onnx.fit import check_input, output_shape, resolve
from worker.data.onnx.parse import SUPPORTED_OPS, OnnxRefused, describe, read_model
from worker.data.validate import check_labels

LIMIT = 10**6


def refusal(model: object) -> str:
    with pytest.raises(OnnxRefused) as caught:
        describe(read_model(onnx_files.to_bytes(model)), max_parameters=LIMIT)  # type: ignore[arg-type]
    return str(caught.value)


def test_an_accepted_file_is_described() -> None:
    info = describe(read_model(onnx_files.to_bytes(onnx_files.mlp())), max_parameters=LIMIT)
    assert info.input.name == "input" and info.input.shape == ["batch", 4] and info.input.dtype == "float32"
    assert info.output.shape == ["batch", 3]
    assert info.parameters == 8 * 4 + 8 + 3 * 8 + 3
    assert info.op_counts == {"Gemm": 2, "Identity": 1, "Relu": 1} and info.opset == 17


@pytest.mark.parametrize(
    ("build", "words"),
    [
        (onnx_files.external_data, "external data"),
        (onnx_files.foreign_domain, "com.microsoft"),
        (onnx_files.unsupported_ops, "['Expand', 'Tile']"),
        (onnx_files.two_inputs, "2 data inputs ['input', 'other']"),
        (onnx_files.dangling_input, "onnx.checker"),
    ],
)
def test_hostile_or_unsupported_files_are_refused_saying_why(build: object, words: str) -> None:
    assert words in refusal(build())  # type: ignore[operator]


def test_too_many_parameters_are_refused_naming_the_setting() -> None:
    with pytest.raises(OnnxRefused, match="67 parameters; the limit is 10 .LOSSDOCTOR_MAX_MODEL_PARAMETERS"):
        describe(onnx_files.mlp(), max_parameters=10)


def test_bytes_that_are_not_a_model_are_refused() -> None:
    with pytest.raises(OnnxRefused, match="not an ONNX model"):
        read_model(b"\x00\x01 definitely not protobuf \xff")


def test_a_truncated_file_names_the_parse_failure() -> None:
    with pytest.raises(OnnxRefused, match="protobuf does not parse .a truncated or corrupt file.*Error parsing"):
        read_model(onnx_files.truncated(onnx_files.to_bytes(onnx_files.mlp())))


def test_the_node_count_is_checked_first() -> None:
    model = onnx_files.many_nodes(30)
    model.opset_import[0].version = 7  # would be refused for its opset, later
    with pytest.raises(OnnxRefused, match="the graph has 30 nodes; the limit is 20"):
        describe(model, max_parameters=LIMIT, max_nodes=20)
    assert describe(onnx_files.many_nodes(30), max_parameters=LIMIT, max_nodes=30).op_counts["Identity"] == 27


def test_a_missing_upload_is_a_spec_error_on_model_onnx() -> None:
    with pytest.raises(SpecError) as caught:
        resolve(ModelSpec(onnx="mdl_" + "1" * 24), lambda upload_id: None)
    assert caught.value.loc == ("model", "onnx")


def test_inputs_and_outputs_are_fitted_to_the_data() -> None:
    content = onnx_files.to_bytes(onnx_files.mlp())
    spec = ModelSpec(onnx="mdl_" + "1" * 24)
    proto, info = resolve(spec, lambda upload_id: content)
    assert spec.program is not None and spec.program.parameter_count == info.parameters
    check_input(info, (4,))
    with pytest.raises(SpecError, match=r"takes \['batch', 4\].*shape \[1, 2, 2\]"):
        check_input(info, (1, 2, 2))
    out = output_shape(proto, (4,))
    assert out == (3,)
    where = (("model", "onnx"), "the model's output 'output'")
    check_labels("cross_entropy", np.array([0, 1, 2]), out, 0, "onnx", where=where)
    with pytest.raises(SpecError, match="the model's output 'output' outputs 3 class scores") as caught:
        check_labels("cross_entropy", np.array([0, 5]), out, 0, "onnx", where=where)
    assert caught.value.loc == ("model", "onnx")


def test_a_giant_value_is_refused_before_any_worker_allocates_it() -> None:
    with pytest.raises(SpecError, match="values per sample"):
        output_shape(onnx_files.giant_padding(), (1, 1, 1))


def test_the_readme_lists_exactly_the_supported_ops() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    table = readme[readme.index("<!-- supported-ops -->") :]
    table = table[: table.index("\n\n")]
    listed = set(re.findall(r"`([A-Z][A-Za-z]+)`", table))
    assert listed == set(SUPPORTED_OPS), (sorted(listed - SUPPORTED_OPS), sorted(SUPPORTED_OPS - listed))
