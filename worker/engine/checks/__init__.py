"""Checks before training: pure looks at the spec and the data, one per file, one signature.

Each check is ``check(spec, x, y) -> CheckResult`` on the training split as given (x: [N, ...]
float32 with NaN kept; y as loaded). ``CHECKS`` is the explicit registry, run in order, keyed by
the contract's check names (``worker.contract.vocabulary.CheckName``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from worker.contract.spec import JobSpec
from worker.contract.vocabulary import CheckName
from worker.engine.checks import frozen, input_scale, label_range, non_finite, output_loss
from worker.engine.checks.base import CheckResult

Check = Callable[[JobSpec, np.ndarray, np.ndarray], CheckResult]

#: Every check, in the order they run; each module says its own name (``NAME``).
_CHECKS = (non_finite, input_scale, label_range, output_loss, frozen)
CHECKS: dict[CheckName, Check] = {m.NAME: m.check for m in _CHECKS}

__all__ = ["CHECKS", "Check", "CheckResult"]
