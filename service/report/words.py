"""Causes, probe changes and fixes in words for the report page."""

from __future__ import annotations

import json
from typing import Any

#: A short title per cause of CONTRACT.md; an unknown cause is shown by its name.
CAUSE_TITLES: dict[str, str] = {
    "lr_too_high": "Learning rate too high",
    "lr_too_low": "Learning rate too low",
    "bad_initialization": "Bad weight initialization",
    "over_regularization": "Too much regularization",
    "vanishing_gradients": "Vanishing gradients",
    "exploding_gradients": "Exploding gradients",
    "dead_relus": "Dead ReLUs",
    "no_learnable_signal": "No learnable signal in the labels",
    "label_noise": "Noisy labels",
    "unscaled_inputs": "Unscaled inputs",
    "non_finite_data": "NaN or infinite values in the data",
    "insufficient_capacity": "Model too small",
    "loss_output_mismatch": "Loss does not fit the model's output",
    "frozen_parameters": "Frozen parameters",
    "batch_size": "Batch size",
    "too_few_steps": "Too few training steps",
    "overfitting": "Overfitting",
    "training_loop_bug": "Bug in the training loop",
}


def cause_title(cause: str | None) -> str:
    """The cause's title, e.g. ``lr_too_high`` → "Learning rate too high"."""
    if not cause:
        return "No problem found"
    return CAUSE_TITLES.get(cause, cause.replace("_", " ").capitalize())


def value_text(value: Any) -> str:
    """A setting's value as a person reads it."""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, str | int | bool) or value is None:
        return str(value)
    return json.dumps(value)


def changes_text(changes: Any) -> list[str]:
    """A fix or a probe's changes as sentences: ``{"training.lr": 0.001}`` → ["set training.lr to 0.001"];
    a value that is itself a sentence is shown after its key (``"data: check the label column"``)."""
    if not changes:
        return []
    if isinstance(changes, dict):
        return [
            f"{key}: {value}" if isinstance(value, str) and " " in value else f"set {key} to {value_text(value)}"
            for key, value in changes.items()
        ]
    if isinstance(changes, list):
        return [s for item in changes for s in changes_text(item)]
    return [value_text(changes)]


def number(value: Any, digits: int = 4) -> str:
    """A loss or ratio for display; ``—`` for a missing (non-finite) one."""
    if isinstance(value, int | float):
        return f"{value:.{digits}g}"
    return "—"


#: How each basis of a finding is shown: a symptom is never worded as confirmed.
BASIS_WORDS: dict[str, str] = {
    "intervention": "confirmed by an intervention",
    "measured": "measured on your run, not tested by an intervention",
    "symptoms": "suggested by symptoms, not confirmed",
}

#: A run's ``stop_reason`` in words.
STOP_WORDS: dict[str, str] = {
    "completed": "trained all epochs",
    "non_finite": "stopped: loss went non-finite",
    "deadline": "stopped: budget ran out",
    "settled": "stopped early: verdict settled",
    "behind": "stopped early: behind the baseline, not recovering",
}
