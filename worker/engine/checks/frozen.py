"""Parameters that can never change: frozen layers, or a learning rate of zero."""

from __future__ import annotations

import numpy as np

from worker.contract.spec import PARAM_LAYER_TYPES, JobSpec
from worker.contract.vocabulary import CheckName
from worker.engine.checks.base import CheckResult

NAME: CheckName = "frozen"


def check(spec: JobSpec, x: np.ndarray, y: np.ndarray) -> CheckResult:
    param_layers = [(i, layer) for i, layer in enumerate(spec.model.layers) if layer.type in PARAM_LAYER_TYPES]
    frozen = [i for i, layer in param_layers if getattr(layer, "frozen", False)]
    numbers = {"frozen_layers": frozen, "param_layers": [i for i, _ in param_layers], "lr": spec.training.lr}
    if spec.training.lr == 0:
        return CheckResult(NAME, True, "the learning rate is 0: no parameter can change", numbers)
    if frozen:
        names = ", ".join(f"{i}.{spec.model.layers[i].type}" for i in frozen)
        n = len(param_layers)
        share = f"all {n}" if len(frozen) == n else f"{len(frozen)} of {n}"
        return CheckResult(NAME, True, f"{share} layers with parameters are frozen ({names})", numbers)
    return CheckResult(NAME, False, "every layer with parameters trains", numbers)
