"""Diagnosis rules: one cause per file, each a pure function of ``Evidence`` returning a finding or None.

``RULES`` is the explicit registry; its keys are exactly the contract's causes.
"""

from __future__ import annotations

from collections.abc import Callable

from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules import (
    bad_initialization,
    batch_size,
    dead_relus,
    exploding_gradients,
    frozen_parameters,
    insufficient_capacity,
    label_noise,
    loss_output_mismatch,
    lr_too_high,
    lr_too_low,
    no_learnable_signal,
    non_finite_data,
    over_regularization,
    overfitting,
    too_few_steps,
    unscaled_inputs,
    vanishing_gradients,
)
from worker.diagnosis.rules.base import Finding

Rule = Callable[[Evidence], Finding | None]

#: Causes in order of precedence: when two confirmed fixes recover about as much, the earlier
#: cause is named primary (a data or wiring fault before the training knobs it disturbs).
RULES: dict[str, Rule] = {
    "non_finite_data": non_finite_data.rule,
    "no_learnable_signal": no_learnable_signal.rule,
    "frozen_parameters": frozen_parameters.rule,
    "loss_output_mismatch": loss_output_mismatch.rule,
    "unscaled_inputs": unscaled_inputs.rule,
    "bad_initialization": bad_initialization.rule,
    "dead_relus": dead_relus.rule,
    "vanishing_gradients": vanishing_gradients.rule,
    "exploding_gradients": exploding_gradients.rule,
    "over_regularization": over_regularization.rule,
    "lr_too_high": lr_too_high.rule,
    "lr_too_low": lr_too_low.rule,
    "insufficient_capacity": insufficient_capacity.rule,
    "batch_size": batch_size.rule,
    "too_few_steps": too_few_steps.rule,
    "label_noise": label_noise.rule,
    "overfitting": overfitting.rule,
}

__all__ = ["RULES", "Finding", "Rule"]
