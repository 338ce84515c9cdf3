"""Evidence: the numbers the diagnosis rules read, and nothing else.

Built once from the pre-checks, the baseline and the probe runs; plain data (JSON-able), so a
rule can be tested with a table of hand-written evidence in microseconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunFacts:
    """One training run in numbers. Losses are the data loss in the loss's units; None = non-finite."""

    name: str
    family: str | None  # None for the baseline
    changes: dict[str, Any]
    initial: float | None  # loss on the training split before any step
    train_loss: list[float | None]  # per-epoch mean over batches
    val_loss: list[float | None]
    val_acc: list[float | None] = field(default_factory=list)
    train_acc: float | None = None
    penalty: list[float | None] = field(default_factory=list)
    epochs_planned: int = 0
    nonfinite: bool = False
    chance: float | None = None  # chance on the data this run trained on, if it differs
    param_norm: float | None = None  # L2 norm of all parameters at the end
    stop_reason: str = "completed"  # completed | non_finite | deadline | settled | behind
    fit_share: float | None = None  # share of training samples fit at the end (classification)
    misfit_share: float | None = None  # share of training samples misfit at the end

    @property
    def cut_short(self) -> bool:
        """The budget stopped the run before its planned epochs: its numbers describe part of it."""
        return self.stop_reason == "deadline" and len(self.train_loss) < self.epochs_planned

    @property
    def final(self) -> float:
        """Last epoch's train loss; inf when non-finite."""
        if self.nonfinite or not self.train_loss or self.train_loss[-1] is None:
            return math.inf
        return float(self.train_loss[-1])

    @property
    def val_final(self) -> float:
        if not self.val_loss or self.val_loss[-1] is None:
            return math.inf
        return float(self.val_loss[-1])

    @property
    def val_best(self) -> float:
        vals = [v for v in self.val_loss if v is not None]
        return min(vals) if vals else math.inf

    @property
    def val_acc_final(self) -> float | None:
        return self.val_acc[-1] if self.val_acc else None

    @property
    def peak(self) -> float:
        """The largest epoch loss (inf if any was non-finite)."""
        if self.nonfinite or any(v is None for v in self.train_loss):
            return math.inf
        return max((float(v) for v in self.train_loss if v is not None), default=math.inf)


@dataclass
class Evidence:
    """Everything a rule may look at."""

    loss: str
    chance: float  # best constant prediction's loss on the training labels
    val_chance: float
    n_classes: int | None
    n_train: int
    n_val: int
    val_majority: float | None  # share of the most common class in the validation split
    training: dict[str, Any]  # the spec's training section as run
    layer_types: list[str]
    checks: dict[str, dict[str, Any]]  # name -> {flagged, detail, numbers}
    baseline: RunFacts
    probes: list[RunFacts] = field(default_factory=list)
    first_step_grad_norm: dict[str, float | None] = field(default_factory=dict)  # layer -> norm
    first_step_weight_norm: dict[str, float | None] = field(default_factory=dict)
    dead_fraction: dict[str, list[float | None]] = field(default_factory=dict)  # relu -> per epoch
    saturation: dict[str, list[float | None]] = field(default_factory=dict)
    custom_init: bool = False

    def flagged(self, check: str) -> bool:
        return bool(self.checks.get(check, {}).get("flagged"))

    def detail(self, check: str) -> str:
        return str(self.checks.get(check, {}).get("detail", ""))

    def family(self, name: str) -> list[RunFacts]:
        return [p for p in self.probes if p.family == name]
