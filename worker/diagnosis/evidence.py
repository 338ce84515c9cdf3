"""Evidence: the numbers the diagnosis rules read, and nothing else.

Built once from the pre-checks, the baseline and the probe runs. The runs are the loops' own
``RunRecord``s (``worker.diagnosis.record``), read directly, never copied; everything else is plain
data, so a rule can be tested with a table of hand-written evidence in microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.contract.result import Check
from worker.diagnosis.record import RunRecord


@dataclass
class Evidence:
    """Everything a rule may look at. Losses in the loss's units; ``chance`` is the best constant
    prediction's loss on the training labels, ``val_chance`` on the validation labels."""

    loss: str
    chance: float
    val_chance: float
    n_classes: int | None
    n_train: int
    n_val: int
    val_majority: float | None  # share of the most common class in the validation split
    training: dict[str, Any]  # the spec's training section as run
    layer_types: list[str]
    checks: dict[str, Check]  # by check name: flagged, detail, numbers
    baseline: RunRecord
    probes: list[RunRecord] = field(default_factory=list)
    custom_init: bool = False

    @property
    def first_step_grad_norm(self) -> dict[str, float | None]:
        """The baseline's gradient L2 norm of each layer at its first step, by layer name."""
        return self.baseline.first_step_grads()

    @property
    def first_step_weight_norm(self) -> dict[str, float | None]:
        """The baseline's weight L2 norm of each layer before its first step, by layer name."""
        return self.baseline.first_step_weights()

    @property
    def dead_fraction(self) -> dict[str, list[float | None]]:
        """Each ReLU's share of dead units in the baseline, at init and after each epoch."""
        return self.baseline.dead_fraction

    @property
    def saturation(self) -> dict[str, list[float | None]]:
        """Each sigmoid's or tanh's share of saturated units in the baseline, at init and after each epoch."""
        return self.baseline.saturation

    def flagged(self, check: str) -> bool:
        """The pre-check ``check`` ran and flagged a problem."""
        found = self.checks.get(check)
        return found is not None and bool(found.flagged)

    def detail(self, check: str) -> str:
        """What the pre-check ``check`` said, with its numbers ("" when it did not run)."""
        found = self.checks.get(check)
        return str(found.detail) if found is not None and found.detail is not None else ""

    def family(self, name: str) -> list[RunRecord]:
        return [p for p in self.probes if p.family == name]
