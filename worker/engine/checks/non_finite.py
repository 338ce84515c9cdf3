"""NaN or infinite values in the inputs or the labels."""

from __future__ import annotations

import numpy as np

from worker.contract.spec import JobSpec
from worker.contract.vocabulary import CheckName
from worker.engine.checks.base import CheckResult

NAME: CheckName = "non_finite"


def check(spec: JobSpec, x: np.ndarray, y: np.ndarray) -> CheckResult:
    bad_x = ~np.isfinite(x)
    bad_y = ~np.isfinite(y.astype(np.float64))
    rows_x = bad_x.reshape(len(x), -1).any(axis=1)
    rows_y = bad_y.reshape(len(y), -1).any(axis=1)
    rows = int((rows_x | rows_y).sum())
    numbers = {
        "x_values": int(bad_x.sum()),
        "x_share": float(bad_x.mean()) if x.size else 0.0,
        "y_values": int(bad_y.sum()),
        "rows": rows,
        "rows_share": rows / max(len(x), 1),
    }
    if not rows:
        return CheckResult(NAME, False, "all inputs and labels are finite", numbers)
    parts = []
    if numbers["x_values"]:
        parts.append(f"{numbers['x_values']} input values ({100 * numbers['x_share']:.1f}%) are NaN or infinite")
    if numbers["y_values"]:
        parts.append(f"{numbers['y_values']} labels are NaN or infinite")
    detail = " and ".join(parts) + f", in {rows} of {len(x)} training rows"
    return CheckResult(NAME, True, detail, numbers)
