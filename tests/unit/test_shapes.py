"""Shape inference against PyTorch's own modules, and the runnability checks before training."""

from __future__ import annotations

import io
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import torch
from pydantic import TypeAdapter

from worker.contract.errors import SpecError
from worker.contract.spec import JobSpec, Layer
from worker.data import RawData, parse_upload
from worker.data.shapes import infer_shapes
from worker.data.validate import check_runnable

LAYERS = TypeAdapter(list[Layer])


def layers(*items: dict[str, Any]) -> list[Any]:
    """Validated spec layers."""
    return LAYERS.validate_python(list(items))


@pytest.mark.parametrize(
    ("stack", "sample", "expected"),
    [
        ([{"type": "linear", "out_features": 5}, {"type": "relu"}], (3,), [(5,), (5,)]),
        ([{"type": "conv2d", "out_channels": 4}], (1, 8, 8), [(4, 6, 6)]),
        ([{"type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1}], (3, 5, 7), [(2, 5, 7)]),
        ([{"type": "conv2d", "out_channels": 2, "kernel_size": 2, "stride": 2}], (1, 7, 7), [(2, 3, 3)]),
        (
            [{"type": "maxpool2d"}, {"type": "avgpool2d", "kernel_size": 3, "stride": 1}],
            (2, 9, 9),
            [(2, 4, 4), (2, 2, 2)],
        ),
        ([{"type": "batchnorm"}, {"type": "layernorm"}, {"type": "dropout"}], (6,), [(6,), (6,), (6,)]),
        (
            [
                {"type": "batchnorm"},
                {"type": "flatten"},
                {"type": "linear", "out_features": 3},
                {"type": "softmax"},
            ],
            (2, 3, 3),
            [(2, 3, 3), (18,), (3,), (3,)],
        ),
        ([{"type": "flatten"}], (64,), [(64,)]),
    ],
)
def test_shape_table(stack: list[dict[str, Any]], sample: tuple[int, ...], expected: list[tuple[int, ...]]) -> None:
    assert infer_shapes(layers(*stack), sample) == expected


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding"),
    [(8, 3, 1, 0), (8, 3, 2, 1), (7, 2, 3, 0), (5, 5, 1, 0), (9, 4, 2, 2), (1, 3, 1, 1)],
)
def test_conv_and_pool_match_torch(size: int, kernel: int, stride: int, padding: int) -> None:
    x = torch.zeros(1, 2, size, size + 1)
    conv = {"type": "conv2d", "out_channels": 3, "kernel_size": kernel, "stride": stride, "padding": padding}
    got = infer_shapes(layers(conv), (2, size, size + 1))[0]
    assert got == tuple(torch.nn.Conv2d(2, 3, kernel, stride, padding)(x).shape[1:])
    if kernel <= size:
        for pool_type, pool in (("maxpool2d", torch.nn.MaxPool2d), ("avgpool2d", torch.nn.AvgPool2d)):
            spec_pool = {"type": pool_type, "kernel_size": kernel, "stride": stride}
            got = infer_shapes(layers(spec_pool), (2, size, size + 1))[0]
            assert got == tuple(pool(kernel, stride)(x).shape[1:])
        default_stride = infer_shapes(layers({"type": "maxpool2d", "kernel_size": kernel}), (2, size, size + 1))
        assert default_stride[0] == tuple(torch.nn.MaxPool2d(kernel)(x).shape[1:])


@pytest.mark.parametrize(
    ("stack", "sample", "index", "words"),
    [
        (
            [{"type": "relu"}, {"type": "linear", "out_features": 2}],
            (1, 8, 8),
            1,
            ["layer 1 (linear)", "[1, 8, 8]", "insert a flatten layer"],
        ),
        ([{"type": "conv2d", "out_channels": 2}], (64,), 0, ["layer 0 (conv2d)", "data.shape", "[1, 8, 8]"]),
        ([{"type": "maxpool2d"}], (10,), 0, ["layer 0 (maxpool2d)", "data.shape"]),
        (
            [{"type": "conv2d", "out_channels": 2, "kernel_size": 5}],
            (1, 4, 4),
            0,
            ["layer 0 (conv2d)", "kernel_size 5", "only 4"],
        ),
        (
            [{"type": "maxpool2d"}, {"type": "maxpool2d"}, {"type": "avgpool2d", "kernel_size": 3}],
            (1, 8, 8),
            2,
            ["layer 2 (avgpool2d)", "kernel_size 3", "only 2"],
        ),
        ([{"type": "batchnorm"}], (3, 4), 0, ["layer 0 (batchnorm)", "[3, 4]"]),
    ],
)
def test_shape_errors_name_the_layer(
    stack: list[dict[str, Any]], sample: tuple[int, ...], index: int, words: list[str]
) -> None:
    with pytest.raises(SpecError) as err:
        infer_shapes(layers(*stack), sample)
    assert err.value.loc == ("model", "layers", index)
    for word in words:
        assert word in err.value.message


# --- check_runnable ------------------------------------------------------------------------------


def job(
    data: dict[str, Any] | None = None,
    stack: list[dict[str, Any]] | None = None,
    loss: str = "cross_entropy",
    init: dict[str, Any] | None = None,
    **training: Any,
) -> JobSpec:
    """A job on tiny inline data (labels 0..2) with a one-layer model by default."""
    data = data or {"source": "inline", "x": [[0, 1], [1, 0], [1, 1], [0, 0]], "y": [0, 1, 2, 1]}
    stack = stack or [{"type": "linear", "out_features": 3}]
    model: dict[str, Any] = {"layers": stack} | ({"init": init} if init else {})
    return JobSpec.model_validate({"data": data, "model": model, "training": {"loss": loss, **training}})


def inline(y: list[Any]) -> dict[str, Any]:
    """Inline data: one feature per sample, labels ``y``."""
    return {"source": "inline", "x": [[float(i)] for i in range(len(y))], "y": y}


def test_runnable_spec_returns_the_data() -> None:
    raw = check_runnable(job())
    assert isinstance(raw, RawData) and raw.x.shape == (4, 2)


def test_label_beyond_classes_names_label_classes_layer_and_loss() -> None:
    spec = job(stack=[{"type": "linear", "out_features": 4}, {"type": "relu"}, {"type": "linear", "out_features": 2}])
    with pytest.raises(SpecError) as err:
        check_runnable(spec)
    assert err.value.loc == ("model", "layers", 2)
    for word in ("largest label is 2", "2 class scores", "layer 2 (linear)", "cross_entropy"):
        assert word in err.value.message


@pytest.mark.parametrize(
    ("spec", "loc", "words"),
    [
        (job(stack=[{"type": "linear", "out_features": 1}]), ("model", "layers", 0), "C >= 2"),
        (job(data=inline([0, 1.5, 1, 0])), ("data", "y"), "1.5"),
        (job(data=inline([0, -1, 1, 0]), loss="nll"), ("data", "y"), "-1"),
        (job(data=inline([[0, 1], [1, 0]])), ("data", "y"), "one class index"),
        (job(loss="mse"), ("model", "layers", 0), "must output [1]"),
        (
            job(
                data=inline([[0, 1, 2], [1, 0, 2]]),
                loss="huber",
                stack=[{"type": "linear", "out_features": 2}],
            ),
            ("model", "layers", 0),
            "must output [3]",
        ),
        (job(init={"bias": "xavier_uniform"}), ("model", "init", "bias"), "xavier_uniform"),
        (
            job(stack=[{"type": "linear", "out_features": 3, "init": {"bias": "kaiming_normal"}}]),
            ("model", "layers", 0, "init", "bias"),
            "kaiming_normal",
        ),
        (
            job(
                stack=[
                    {"type": "batchnorm", "init": {"weight": "orthogonal"}},
                    {"type": "linear", "out_features": 3},
                ]
            ),
            ("model", "layers", 0, "init", "weight"),
            "orthogonal",
        ),
        (
            job(stack=[{"type": "batchnorm"}, {"type": "linear", "out_features": 3}], batch_size=1),
            ("training", "batch_size"),
            "layer 0 (batchnorm)",
        ),
        (job(data={"source": "builtin", "name": "iris", "shape": [3]}), ("data", "shape"), "4"),
        (
            job(data={"source": "synthetic", "name": "moons", "n_classes": 3}),
            ("data", "n_classes"),
            "applies only",
        ),
    ],
)
def test_unrunnable_specs_name_the_field(spec: JobSpec, loc: tuple[Any, ...], words: str) -> None:
    with pytest.raises(SpecError) as err:
        check_runnable(spec)
    assert err.value.loc == loc and words in err.value.message


def test_too_few_samples_for_the_split() -> None:
    stored, _ = parse_upload("one.npz", _npz(np.ones((1, 2)), np.zeros(1)))
    spec = job(data={"source": "dataset", "id": "one"})
    with pytest.raises(SpecError) as err:
        check_runnable(spec, lambda _id: stored)
    assert err.value.loc == ("data", "validation_fraction")


def _npz(x: np.ndarray, y: np.ndarray) -> bytes:
    """The bytes of ``np.savez(x=x, y=y)``."""
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "spec",
    [
        # softmax before cross_entropy
        job(stack=[{"type": "linear", "out_features": 3}, {"type": "softmax"}]),
        # a sigmoid output on a regression target
        job(
            data=inline([0.5, 3.0, -2.0, 7.25]),
            loss="mse",
            stack=[{"type": "linear", "out_features": 1}, {"type": "sigmoid"}],
        ),
        # labels 0..2 into bce
        job(loss="bce", stack=[{"type": "linear", "out_features": 1}, {"type": "sigmoid"}]),
        # class indices into mse
        job(loss="mse", stack=[{"type": "linear", "out_features": 1}]),
        # a NaN label is a finding, not a refusal
        job(data=inline([0, None, 1, 2])),
        job(
            data=inline([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0]]),
            loss="bce_with_logits",
            stack=[{"type": "linear", "out_features": 2}],
        ),
    ],
)
def test_wrong_but_runnable_specs_pass(spec: JobSpec) -> None:
    check_runnable(spec)


def test_data_shapes_and_validate_stay_torch_free() -> None:
    code = "import sys, worker.data, worker.data.shapes, worker.data.validate; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
