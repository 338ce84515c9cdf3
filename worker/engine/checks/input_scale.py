"""Features on very large or very different scales (computed over finite values only)."""

from __future__ import annotations

import numpy as np

from worker.contract.spec import JobSpec
from worker.contract.vocabulary import CheckName
from worker.engine.checks.base import CheckResult

NAME: CheckName = "input_scale"

#: A feature whose typical magnitude (|mean| + std) exceeds this is "large".
LARGE_SCALE = 50.0
#: Spread between the largest and smallest feature std (non-constant features) called "very different".
SPREAD_RATIO = 100.0


def check(spec: JobSpec, x: np.ndarray, y: np.ndarray) -> CheckResult:
    program = spec.model.program
    if program is not None and program.integer_input:
        return CheckResult(
            NAME,
            False,
            "the model's input holds integer ids, which have no scale to fix",
            {"integer_input": True},
        )
    flat = x.reshape(len(x), -1).astype(np.float64)
    flat = np.where(np.isfinite(flat), flat, np.nan)
    with np.errstate(all="ignore"):
        mean = np.nanmean(flat, axis=0)
        std = np.nanstd(flat, axis=0)
    magnitude = np.nan_to_num(np.abs(mean) + std)
    live = std[np.isfinite(std) & (std > 1e-12)]
    spread = float(live.max() / live.min()) if live.size else 1.0
    largest = int(np.argmax(magnitude)) if magnitude.size else 0
    numbers = {
        "max_magnitude": float(magnitude.max()) if magnitude.size else 0.0,
        "largest_feature": largest,
        "std_spread": spread,
        "max_abs": float(np.nanmax(np.abs(flat))) if np.isfinite(flat).any() else 0.0,
    }
    flagged = numbers["max_magnitude"] > LARGE_SCALE or spread > SPREAD_RATIO
    if not flagged:
        return CheckResult(
            NAME,
            False,
            f"features are on moderate scales (largest |mean|+std {numbers['max_magnitude']:.3g})",
            numbers,
        )
    detail = (
        f"feature {largest} has |mean|+std {numbers['max_magnitude']:.3g}; feature standard deviations "
        f"span a factor of {spread:.3g}"
    )
    return CheckResult(NAME, True, detail, numbers)
