"""Whether a job spec that validates field by field can run as a whole on its data (torch-free).

``check_runnable`` raises a ``SpecError`` naming the field for what would crash before or during
training (shapes that do not chain, labels outside the output's classes, too few samples).
It does not refuse what runs but is wrong (softmax before cross_entropy, a sigmoid output on a
regression target, labels 0..2 into bce, class indices into mse): those are the diagnosis' findings.
"""

from __future__ import annotations

import math

import numpy as np

from worker.contract.errors import SpecError
from worker.contract.spec import CLASS_INDEX_LOSSES, BatchNorm, JobSpec, ModelSpec
from worker.data import FetchUpload, RawData, load, split_sizes
from worker.data.onnx.fit import check_input, output_shape, resolve
from worker.data.shapes import infer_shapes

#: Init schemes that need a weight matrix (fan-in/fan-out), so never a 1-D bias or norm weight.
MATRIX_SCHEMES: frozenset[str] = frozenset(
    {"xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal"}
)
NORM_LAYER_TYPES: frozenset[str] = frozenset({"batchnorm", "layernorm"})


def _refuse_matrix_scheme(scheme: object, loc: tuple[str | int, ...], what: str) -> None:
    """SpecError when a matrix-only scheme is asked of a 1-D parameter."""
    if isinstance(scheme, str) and scheme in MATRIX_SCHEMES:
        raise SpecError(
            loc,
            f"init {scheme!r} needs a weight matrix (it uses fan-in/fan-out) and makes no sense for "
            f"{what}; use zeros, ones, constant, normal, uniform or a number",
        )


def check_init(model: ModelSpec) -> None:
    """Refuse matrix schemes on biases and on normalization weights."""
    if model.init is not None:
        _refuse_matrix_scheme(model.init.bias, ("model", "init", "bias"), "a 1-D bias")
    for i, layer in enumerate(model.layers):
        own = getattr(layer, "init", None)
        if own is None:
            continue
        _refuse_matrix_scheme(own.bias, ("model", "layers", i, "init", "bias"), f"layer {i}'s 1-D bias")
        if layer.type in NORM_LAYER_TYPES:
            _refuse_matrix_scheme(
                own.weight, ("model", "layers", i, "init", "weight"), f"layer {i} ({layer.type})'s scale"
            )


def check_labels(
    loss: str,
    y: np.ndarray,
    out: tuple[int, ...],
    last: int,
    last_type: str,
    where: tuple[tuple[str | int, ...], str] | None = None,
) -> None:
    """Refuse labels the loss cannot take with the model's per-sample output ``out``.

    ``where``: the field and the words naming the output, for a model that is not a layer list.
    """
    name = f"layer {last} ({last_type})" if where is None else where[1]
    out_loc: tuple[str | int, ...] = ("model", "layers", last) if where is None else where[0]
    if loss in CLASS_INDEX_LOSSES:
        if len(out) != 1 or out[0] < 2:
            raise SpecError(
                out_loc,
                f"{name} outputs {list(out)} per sample but {loss} needs [C] class scores with C >= 2; "
                "end the model with a linear layer whose out_features is the number of classes",
            )
        if y.ndim != 1:
            raise SpecError(
                ("data", "y"),
                f"{loss} needs one class index per sample but y has shape {list(y.shape)}",
            )
        finite = y[np.isfinite(y)] if y.dtype.kind == "f" else y
        if finite.size == 0:
            return
        if y.dtype.kind == "f" and not (finite == np.round(finite)).all():
            bad = finite[finite != np.round(finite)][0]
            raise SpecError(("data", "y"), f"{loss} needs integer class indices but y holds {bad:g}")
        low, high, classes = finite.min(), finite.max(), out[0]
        if low < 0:
            raise SpecError(("data", "y"), f"{loss} needs class indices 0..{classes - 1} but y holds {low:g}")
        if high >= classes:
            raise SpecError(
                out_loc,
                f"the largest label is {high:g} but {name} outputs {classes} class scores, so {loss} "
                f"accepts labels 0..{classes - 1}; give the last linear layer out_features >= {high + 1:g}",
            )
        return
    target = tuple(int(d) for d in y.shape[1:]) or (1,)
    if out != target:
        per_sample = f"[{y.shape[1]}] per sample" if y.ndim > 1 else "one value per sample"
        raise SpecError(
            out_loc,
            f"{loss} compares the output with y, but {name} outputs {list(out)} per sample and y has "
            f"{per_sample}; the model must output {list(target)}"
            + ("; for class indices use cross_entropy" if y.ndim == 1 and y.dtype.kind == "i" else ""),
        )


def check_batchnorm(spec: JobSpec, shapes: list[tuple[int, ...]], sample_shape: tuple[int, ...], n_train: int) -> None:
    """Refuse a batchnorm layer that would see a single value per channel in a training batch."""
    batch = min(spec.training.batch_size, n_train)
    for i, layer in enumerate(spec.model.layers):
        if not isinstance(layer, BatchNorm):
            continue
        in_shape = shapes[i - 1] if i else sample_shape
        if batch * math.prod(in_shape[1:]) < 2:
            raise SpecError(
                ("training", "batch_size"),
                f"layer {i} (batchnorm) normalizes over the batch but each training batch holds "
                f"{batch} sample(s) of shape {list(in_shape)}: one value per channel; use batch_size >= 2",
            )


def check_onnx(spec: JobSpec, raw: RawData, fetch_upload: FetchUpload | None) -> None:
    """Read the uploaded model (its program is attached to ``spec.model``) and refuse it when its input
    does not take the data's samples or its output (where known without running it) the labels."""
    proto, info = resolve(spec.model, fetch_upload)
    check_input(info, raw.sample_shape)
    n_train, _ = split_sizes(int(raw.x.shape[0]), spec.data.validation_fraction)
    batch = min(spec.training.batch_size, n_train)
    if "batchnorm" in spec.model.program.kinds() and batch < 2:
        raise SpecError(
            ("training", "batch_size"),
            f"the model has BatchNormalization nodes, which normalize over "
            f"the batch, but each training batch holds {batch} sample; "
            "use batch_size >= 2",
        )
    out = output_shape(proto, raw.sample_shape)
    if out is not None:
        check_labels(
            spec.training.loss,
            raw.y,
            out,
            0,
            "onnx",
            where=(("model", "onnx"), f"the model's output {info.output.name!r}"),
        )


def check_runnable(spec: JobSpec, fetch_upload: FetchUpload | None = None) -> RawData:
    """Load the data and refuse a spec that cannot run on it; returns the loaded data."""
    check_init(spec.model)
    raw = load(spec.data, fetch_upload)
    if spec.model.onnx is not None:
        check_onnx(spec, raw, fetch_upload)
        return raw
    n_train, _ = split_sizes(int(raw.x.shape[0]), spec.data.validation_fraction)
    shapes = infer_shapes(spec.model.layers, raw.sample_shape)
    last = len(spec.model.layers) - 1
    check_labels(spec.training.loss, raw.y, shapes[-1], last, spec.model.layers[last].type)
    check_batchnorm(spec, shapes, raw.sample_shape, n_train)
    return raw
