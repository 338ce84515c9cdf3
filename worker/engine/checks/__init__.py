"""Checks before training: pure looks at the spec and the data, one per file, one signature.

Each check is ``check(spec, x, y) -> CheckResult`` on the training split as given (x: [N, ...]
float32 with NaN kept; y as loaded). ``CHECKS`` is the explicit registry, run in order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from worker.contract.spec import JobSpec
from worker.engine.checks import frozen, input_scale, label_range, non_finite, output_loss
from worker.engine.checks.base import CheckResult

Check = Callable[[JobSpec, np.ndarray, np.ndarray], CheckResult]

CHECKS: dict[str, Check] = {
    "non_finite": non_finite.check,
    "input_scale": input_scale.check,
    "label_range": label_range.check,
    "output_loss": output_loss.check,
    "frozen": frozen.check,
}

__all__ = ["CHECKS", "Check", "CheckResult"]
