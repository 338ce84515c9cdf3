"""Labels against the loss: class indices into regression losses, non-binary targets into BCE."""

from __future__ import annotations

from typing import Any

import numpy as np

from worker.contract.spec import JobSpec
from worker.contract.vocabulary import CheckName
from worker.engine.checks.base import CheckResult

NAME: CheckName = "label_range"


def check(spec: JobSpec, x: np.ndarray, y: np.ndarray) -> CheckResult:
    loss = spec.training.loss
    yf = y.astype(np.float64)
    fin = yf[np.isfinite(yf)]
    numbers: dict[str, Any] = {
        "min": float(fin.min()) if fin.size else None,
        "max": float(fin.max()) if fin.size else None,
        "distinct": int(np.unique(fin).size) if fin.size else 0,
    }
    if loss in ("bce", "bce_with_logits") and fin.size and (fin.min() < 0 or fin.max() > 1):
        return CheckResult(
            NAME,
            True,
            f"{loss} needs targets in [0, 1] but they range from {fin.min():.3g} to {fin.max():.3g}",
            numbers,
        )
    integral = fin.size and np.all(fin == np.round(fin))
    if loss in ("mse", "l1", "huber") and integral and 2 < numbers["distinct"] <= 20 and y.ndim == 1:
        return CheckResult(
            NAME,
            True,
            f"{loss} is fed {numbers['distinct']} integer labels ({numbers['min']:.0f}.."
            f"{numbers['max']:.0f}): class indices treated as numbers impose an order "
            "and distances between classes",
            numbers,
        )
    return CheckResult(NAME, False, "labels fit the loss", numbers)
