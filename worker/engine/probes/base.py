"""What a probe is: data saying what it changes, never a copy of the training loop.

A probe family (``lr_sweep``, ``standard_init``, ...) plans one or more ``ProbeRun``s from the
context; the engine's runner trains each run through the one loop. A family may add runs once
earlier ones finished (``follow_up``), e.g. to walk the lr further in the direction that helps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from worker.contract.spec import JobSpec, ModelSpec, TrainingSpec
from worker.diagnosis.record import RunRecord
from worker.engine.checks.base import CheckResult
from worker.engine.train.problem import Problem

DataChange = Callable[[Problem], Problem]


@dataclass(frozen=True)
class ProbeRun:
    """One controlled variant of the baseline: the spec parts it trains with and what changed."""

    name: str  # e.g. "lr_x0.1"
    family: str  # the registry name, e.g. "lr_sweep"
    changes: dict[str, Any]  # dotted spec paths to their new values, for the result
    model: ModelSpec
    training: TrainingSpec
    data: DataChange | None = None
    resume: bool = False  # continue the baseline's trained model instead of starting anew


@dataclass(frozen=True)
class ProbeOutcome:
    run: ProbeRun
    record: RunRecord
    chance: float | None = None  # chance level of the data the probe trained on


@dataclass
class BaselineVerdict:
    """What the baseline did, in the measures the rules use (``worker.diagnosis.rules.measures``); set
    once it trained, before the phase-2 probes are planned. The defaults hold before then."""

    score: float = math.inf  # final train loss over chance: 0 a perfect fit, 1 a constant guess, inf diverged
    signal: bool = False  # its validation result shows that the inputs predict the labels
    diverged: bool = False  # non-finite, or the loss rose well above where it started
    moved: bool = True  # the loss fell by at least 10% of where it started
    falling: bool = True  # still falling at least FALLING an epoch when it stopped


@dataclass
class ProbeContext:
    """What a planner may look at: the spec, the data, pre-check results and the baseline (its record,
    and once it trained, its ``verdict``)."""

    spec: JobSpec
    problem: Problem
    checks: dict[str, CheckResult]
    baseline: RunRecord | None = None
    verdict: BaselineVerdict = field(default_factory=BaselineVerdict)


def as_model(layers: list[dict[str, Any]], init: dict[str, Any] | None) -> ModelSpec:
    """A ModelSpec from plain layer dicts (validated like a user's)."""
    return ModelSpec.model_validate({"layers": layers, "init": init})


def layer_dicts(model: ModelSpec) -> list[dict[str, Any]]:
    return [layer.model_dump(exclude_none=True) for layer in model.layers]


def init_dict(model: ModelSpec) -> dict[str, Any] | None:
    return model.init.model_dump(exclude_none=True) if model.init else None


class Probe:
    """A probe family: ``applies`` (for "auto"), ``plan`` and optionally ``follow_up``."""

    name: str = ""
    #: Which of the auto-selected families run first when the budget is short (lower first).
    priority: int = 50
    #: Whether "auto" still runs it when the baseline already trained well (see engine).
    needed_when_trained: bool = False
    #: 1: planned without the baseline and trained beside it (one stack); 2: planned from the
    #: baseline's results, after it.
    phase: int = 2
    #: Whether it edits the layer list: such a probe does not apply to an uploaded ONNX model.
    edits_layers: bool = False

    def applies(self, ctx: ProbeContext) -> bool:
        return True

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        raise NotImplementedError

    def follow_up(self, ctx: ProbeContext, done: list[ProbeOutcome]) -> list[ProbeRun]:
        return []

    def with_layers(
        self,
        ctx: ProbeContext,
        layers: list[dict[str, Any]],
        changes: dict[str, Any],
        training: TrainingSpec | None = None,
    ) -> ProbeRun:
        """This probe's run on an edited layer list: the spec's init kept, its training unless given."""
        return ProbeRun(
            name=self.name,
            family=self.name,
            changes=changes,
            model=as_model(layers, init_dict(ctx.spec.model)),
            training=training if training is not None else ctx.spec.training,
        )
