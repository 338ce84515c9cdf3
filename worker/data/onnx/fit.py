"""Whether an uploaded ONNX model fits a job's data, checked before training (torch-free).

``resolve`` reads the upload through the engine's fetch seam, checks it again (``parse.describe``), and
attaches its ``Program`` to the spec's model; ``check_fit`` refuses an input that does not take the
data's samples and, where the output's size is known without running the graph, an output that does
not fit the labels. The worker's conversion (``worker.engine.onnx.build``) checks the rest on the real shapes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import onnx

from worker.contract.errors import DataUnavailable, SpecError
from worker.contract.spec import ModelSpec
from worker.data.onnx.parse import ModelInfo, OnnxRefused, data_inputs, describe, read_model
from worker.data.onnx.program import Program

#: Most values one node may produce per sample (the interpreter's bound, ``worker.engine.onnx.graph``).
MAX_VALUES_PER_SAMPLE = 1 << 24
#: Samples in the batch shape inference runs on.
BATCH = 2
#: Parameters and nodes accepted when a job reads a model: the upload was held to the service's limits already.
ANY_SIZE = 1 << 62
LOC = ("model", "onnx")

FetchUpload = Callable[[str], bytes | None]


def resolve(model: ModelSpec, fetch_upload: FetchUpload | None) -> tuple[onnx.ModelProto, ModelInfo]:
    """Read and check ``model.onnx``; its ``Program`` is attached to ``model``. ``SpecError`` when it is
    missing or no longer passes."""
    assert model.onnx is not None
    content = fetch_upload(model.onnx) if fetch_upload is not None else None
    if content is None:
        raise DataUnavailable(LOC, f"no uploaded model with id {model.onnx!r} (or its retention ended)")
    try:
        proto = read_model(content)
        info = describe(proto, max_parameters=ANY_SIZE, max_nodes=ANY_SIZE)
    except OnnxRefused as exc:
        raise SpecError(LOC, f"uploaded model {model.onnx!r} cannot run: {exc}") from exc
    model.with_program(Program.from_model(proto))
    return proto, info


def check_input(info: ModelInfo, sample_shape: tuple[int, ...]) -> None:
    """Refuse samples the graph's declared input cannot take (a dim 0 is the batch; named dims are free)."""
    declared = info.input.shape
    want = [d for d in declared[1:]]
    fits = len(declared) == len(sample_shape) + 1 and all(
        not isinstance(d, int) or d == s for d, s in zip(want, sample_shape, strict=True)
    )
    if not fits:
        raise SpecError(
            LOC,
            f"the model's input {info.input.name!r} takes {declared} (the first dim is the batch) "
            f"but the data's samples have shape {list(sample_shape)}; set data.shape to match, "
            "or export the model for samples of this shape",
        )


def output_shape(proto: onnx.ModelProto, sample_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The per-sample output shape by ONNX shape inference on a batch of 2 samples; None if it is not known.

    ``SpecError`` when inference finds a value larger than ``MAX_VALUES_PER_SAMPLE`` per sample (a
    padding or a reshape that asks for a giant tensor), before any worker allocates it.
    """
    m = copy.deepcopy(proto)
    inp = data_inputs(m.graph)[0]
    dims = inp.type.tensor_type.shape.dim
    del dims[:]
    for d in (BATCH, *sample_shape):
        dims.add().dim_value = int(d)
    try:
        inferred = onnx.shape_inference.infer_shapes(m, data_prop=True)
    except (onnx.shape_inference.InferenceError, ValueError, RuntimeError):
        return None
    for value in [*inferred.graph.value_info, *inferred.graph.output]:
        known = [int(d.dim_value) for d in value.type.tensor_type.shape.dim if d.HasField("dim_value")]
        if known and math.prod(known) > MAX_VALUES_PER_SAMPLE * BATCH:
            raise SpecError(
                LOC,
                f"for samples of shape {list(sample_shape)} the graph computes a value of shape "
                f"{known} for a batch of {BATCH}: more than {MAX_VALUES_PER_SAMPLE} values per sample",
            )
    out = inferred.graph.output[0].type.tensor_type.shape.dim
    values = [int(d.dim_value) if d.HasField("dim_value") else None for d in out]
    if not values or any(v is None for v in values) or values[0] != BATCH:
        return None
    return tuple(int(v) for v in values[1:] if v is not None)
