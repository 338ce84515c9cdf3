"""The model's last layer against the loss: probabilities into a logits loss, bounded outputs for
unbounded targets, raw outputs where probabilities or log-probabilities are required."""

from __future__ import annotations

from typing import Any

import numpy as np

from worker.contract.spec import JobSpec
from worker.contract.vocabulary import CheckName
from worker.engine.checks.base import CheckResult
from worker.engine.model.names import layer_types

NAME: CheckName = "output_loss"

#: Output activations and the range of values they can produce.
BOUNDED = {"sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0)}


def _last_activation(spec: JobSpec) -> tuple[int, str] | None:
    """The trailing activation after the last weight layer, if any."""
    kinds = layer_types(spec.model)  # an uploaded ONNX model: its nodes' kinds ("linear" for a Gemm)
    for i in range(len(kinds) - 1, -1, -1):
        kind = kinds[i]
        if kind in ("linear", "conv2d"):
            return None
        if kind in ("sigmoid", "softmax", "log_softmax", "tanh", "relu", "leaky_relu", "elu", "gelu"):
            return i, kind
    return None


def check(spec: JobSpec, x: np.ndarray, y: np.ndarray) -> CheckResult:
    loss = spec.training.loss
    last = _last_activation(spec)
    act = last[1] if last else None
    index = last[0] if last else None
    numbers: dict[str, Any] = {"layer": index, "activation": act, "loss": loss}
    problem = None
    if loss == "cross_entropy" and act in ("softmax", "sigmoid"):
        problem = (
            f"layer {index} ({act}) squashes the outputs into [0, 1] before cross_entropy, which applies "
            "its own log-softmax: the logits can no longer separate the classes"
        )
    elif loss == "nll" and act != "log_softmax":
        problem = (
            "nll expects log-probabilities, but the model's output has no log_softmax: the loss is unbounded below"
        )
    elif loss == "bce_with_logits" and act in ("sigmoid", "softmax"):
        problem = (
            f"layer {index} ({act}) turns the outputs into probabilities before bce_with_logits, "
            "which applies its own sigmoid"
        )
    elif loss == "bce" and act not in ("sigmoid", "softmax"):
        problem = "bce expects probabilities in [0, 1], but the model's output has no sigmoid"
    elif loss in ("mse", "l1", "huber") and act in BOUNDED:
        lo, hi = BOUNDED[act]
        yf = y.astype(np.float64)
        fin = yf[np.isfinite(yf)]
        outside = float(((fin < lo) | (fin > hi)).mean()) if fin.size else 0.0
        numbers.update(
            target_min=float(fin.min()) if fin.size else None,
            target_max=float(fin.max()) if fin.size else None,
            share_outside=outside,
        )
        if outside > 0.05:
            problem = (
                f"layer {index} ({act}) bounds the output to [{lo:g}, {hi:g}] but {100 * outside:.0f}% of the "
                f"targets lie outside it (they range from {fin.min():.3g} to {fin.max():.3g})"
            )
    if problem is None:
        return CheckResult(NAME, False, f"the output fits {loss}", numbers)
    return CheckResult(NAME, True, problem, numbers)
