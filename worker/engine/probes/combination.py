"""Two changes at once, for a run with two faults: each single change leaves the other fault in
place, so neither recovers the loss alone.

Planned once, after the single probes, and only when none of them trained the run. The changes
combined are the ones the evidence points to: the intervention of each flagged pre-check
(non-finite rows dropped, inputs standardized), PyTorch's init where the spec sets its own, and
the lr the sweep found best (or a decade each way when the sweep found nothing better).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from worker.contract.spec import ModelSpec
from worker.contract.vocabulary import ProbeName
from worker.diagnosis.rules.measures import TRAINED_SCORE, VAL_BELOW
from worker.engine.probes.base import Probe, ProbeContext, ProbeOutcome, ProbeRun, as_model, layer_dicts
from worker.engine.probes.drop_non_finite import DropNonFinite, drop_rows
from worker.engine.probes.lr_sweep import LrSweep
from worker.engine.probes.overfit_batch import OverfitBatch
from worker.engine.probes.scoring import run_score
from worker.engine.probes.shuffled_labels import ShuffledLabels
from worker.engine.probes.standard_init import StandardInit, custom_init
from worker.engine.probes.standardize_inputs import StandardizeInputs, standardize
from worker.engine.train.problem import Problem

#: At most this many combined runs.
MAX_RUNS = 4
#: A swept lr "points somewhere" when it beat the baseline by this share of chance.
LR_BETTER = 0.05
#: lr factors tried beside standardized inputs.
RESCALED = (10.0, 100.0, 0.1)
#: Runs that do not train on the real data as given, so cannot show a single change trained it (nor can a
#: combined run itself).
NOT_SINGLE = (ShuffledLabels.name, OverfitBatch.name)


@dataclass(frozen=True)
class Change:
    """One change a single probe made, to be combined with another."""

    family: str
    changes: dict[str, Any]
    data: Callable[[Problem], Problem] | None = None
    model: ModelSpec | None = None
    lr: float | None = None


def _pointers(ctx: ProbeContext, done: list[ProbeOutcome]) -> tuple[list[Change], list[Change]]:
    """(changes to the data or model, lr changes) that the evidence points to."""
    fixes: list[Change] = []
    if ctx.checks.get("non_finite") is not None and ctx.checks["non_finite"].flagged:
        fixes.append(Change(DropNonFinite.name, {"data": "rows with NaN or infinite values dropped"}, data=drop_rows))
    if ctx.checks.get("input_scale") is not None and ctx.checks["input_scale"].flagged:
        fixes.append(
            Change(StandardizeInputs.name, {"data": "standardized per feature (train mean and std)"}, data=standardize)
        )
    if custom_init(ctx.spec.model):
        layers = layer_dicts(ctx.spec.model)
        for layer in layers:
            layer.pop("init", None)
        fixes.append(Change(StandardInit.name, {"model.init": "default"}, model=as_model(layers, None)))
    lr0 = ctx.spec.training.lr
    base = ctx.verdict.score
    swept = [
        (run_score(o.record, ctx.problem), o.run.changes["training.lr"])
        for o in done
        if o.run.family == LrSweep.name and "training.lr" in o.run.changes
    ]
    better = [(s, lr) for s, lr in swept if s <= base - LR_BETTER]
    lrs = [min(better)[1]] if better else ([lr0 * 10, lr0 / 10] if lr0 > 0 else [])
    return fixes, [Change(LrSweep.name, {"training.lr": lr}, lr=lr) for lr in lrs]


def _rescaled_lrs(ctx: ProbeContext) -> list[Change]:
    """Standardizing moves the inputs by orders of magnitude, so the lr swept on the raw inputs says
    nothing about the one that suits them: a decade and two up, and one down."""
    lr0 = ctx.spec.training.lr
    return [Change(LrSweep.name, {"training.lr": lr0 * k}, lr=lr0 * k) for k in RESCALED if lr0 > 0]


def _combine(ctx: ProbeContext, a: Change, b: Change) -> ProbeRun:
    data_fns = [c.data for c in (a, b) if c.data is not None]

    def data(p: Problem) -> Problem:
        for fn in data_fns:
            p = fn(p)
        return p

    lr = a.lr if a.lr is not None else b.lr
    training = ctx.spec.training if lr is None else ctx.spec.training.model_copy(update={"lr": lr})
    changes = {"combines": [a.family, b.family], **a.changes, **b.changes}
    return ProbeRun(
        name=f"{a.family}+{b.family}",
        family=Combination.name,
        changes=changes,
        model=a.model or b.model or ctx.spec.model,
        training=training,
        data=data if data_fns else None,
    )


class Combination(Probe):
    name: ProbeName = "combination"
    priority = 60

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        return []

    def follow_up(self, ctx: ProbeContext, done: list[ProbeOutcome]) -> list[ProbeRun]:
        if any(o.run.family == self.name for o in done):
            return []
        singles = [o for o in done if o.run.family not in (*NOT_SINGLE, self.name)]
        if not singles or any(_trained(o, ctx.problem) for o in singles):
            return []  # a single change trained it: that change is the finding
        fixes, lrs = _pointers(ctx, done)
        pairs = [(a, b) for i, a in enumerate(fixes) for b in fixes[i + 1 :]]
        with_lr = {a.family: _rescaled_lrs(ctx) if a.family == StandardizeInputs.name else lrs for a in fixes}
        # each fix with its first lr before any fix with its second: the cap cuts the least likely pairs
        for k in range(max((len(v) for v in with_lr.values()), default=0)):
            pairs += [(a, with_lr[a.family][k]) for a in fixes if k < len(with_lr[a.family])]
        return [_combine(ctx, a, b) for a, b in pairs[:MAX_RUNS]]


def _trained(o: ProbeOutcome, problem: Problem) -> bool:
    """The run trained: train loss at most TRAINED_SCORE of chance, and validation below chance."""
    vals = [v for v in o.record.val_loss if v is not None]
    val_ok = not math.isfinite(problem.val_chance) or bool(vals and min(vals) < VAL_BELOW * problem.val_chance)
    return run_score(o.record, problem) <= TRAINED_SCORE and val_ok
