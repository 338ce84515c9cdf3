"""Diagnose loss curves from a run made elsewhere, without training (``POST /v1/diagnose/curves``).

Torch-free. Without interventions nothing can be confirmed: every finding here is a symptom,
with a confidence to match, and the summary says which job would confirm it.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from worker.evidence import Evidence, RunFacts
from worker.rules import overfitting
from worker.rules.base import Finding
from worker.rules.measures import FALLING, diverged, falling_rate, fmt, moved, score, trained
from worker.spec import LossName, Strict

#: Confidence of a finding read from curves alone (no intervention can confirm it).
SYMPTOM = 0.5
#: A plateau: the loss ends at least this share of chance.
PLATEAU = 0.35


class CurvesRequest(Strict):
    """Per-epoch losses of one run; ``null`` stands for a non-finite value."""

    train_loss: list[float | None] = Field(min_length=2, max_length=100_000)
    val_loss: list[float | None] | None = Field(None, max_length=100_000)
    loss: LossName | None = None
    n_classes: int | None = Field(None, ge=2, le=100_000)
    chance_loss: float | None = Field(None, gt=0.0)
    initial_loss: float | None = None

    @model_validator(mode="after")
    def _chance_known(self) -> CurvesRequest:
        if self.chance_loss is None and self.n_classes is None:
            raise ValueError("give chance_loss (the loss of the best constant prediction) or n_classes "
                             "(chance is then log(n_classes)), so the curves can be judged against chance")
        return self


def _chance(req: CurvesRequest) -> float:
    if req.chance_loss is not None:
        return req.chance_loss
    assert req.n_classes is not None
    return math.log(req.n_classes)


def _evidence(req: CurvesRequest) -> Evidence:
    chance = _chance(req)
    train = [v if v is not None and math.isfinite(v) else None for v in req.train_loss]
    nonfinite = any(v is None for v in train)
    run = RunFacts(name="baseline", family=None, changes={},
                   initial=req.initial_loss if req.initial_loss is not None else train[0],
                   train_loss=train, val_loss=list(req.val_loss or []), nonfinite=nonfinite)
    return Evidence(loss=req.loss or "unknown", chance=chance, val_chance=chance if req.val_loss else math.nan,
                    n_classes=req.n_classes, n_train=0, n_val=0, val_majority=None, training={}, layer_types=[],
                    checks={}, baseline=run)


def _findings(ev: Evidence) -> list[Finding]:
    b = ev.baseline
    out: list[Finding] = []
    rising = overfitting.rule(ev)
    if rising is not None:
        # read off the validation curve itself: the run's best epoch is the early-stopped run
        return [rising]
    if diverged(ev, b):
        what = ("became non-finite" if b.nonfinite else
                f"rose from {fmt(b.initial)} to a peak of {fmt(b.peak)} and ended at {fmt(b.final)}")
        out.append(Finding("lr_too_high", SYMPTOM, [f"the train loss {what}"], {"training.lr": "10x smaller"}))
    elif not moved(ev, b):
        out.append(Finding("lr_too_low", SYMPTOM * 0.6,
                           [f"the train loss barely moved ({fmt(b.initial)} to {fmt(b.final)}, "
                            f"chance {fmt(ev.chance)})"],
                           {"training.lr": "10x larger, or submit the job to test init, lr and data"}))
    elif falling_rate(b) >= FALLING:
        out.append(Finding("too_few_steps", SYMPTOM,
                           [f"the train loss was still falling {100 * falling_rate(b):.0f}% an epoch at the end"],
                           {"training.epochs": "more"}))
    elif score(ev, b) >= PLATEAU:
        out.append(Finding("insufficient_capacity", SYMPTOM * 0.6,
                           [f"the train loss levelled off at {fmt(b.final)} ({score(ev, b):.2f}x chance)"],
                           {"model.layers": "a larger model, or check the labels for noise"}))
    return out


def diagnose_curves(req: CurvesRequest) -> dict[str, Any]:
    """``{"diagnosis": ...}`` shaped like a job result's diagnosis; findings are symptoms only."""
    ev = _evidence(req)
    b = ev.baseline
    healthy = (trained(ev, b) and not (falling_rate(b) >= FALLING and score(ev, b) > 0.1)
               and overfitting.rule(ev) is None)
    findings = [] if healthy else _findings(ev)
    primary = findings[0] if findings else None
    if healthy:
        summary = (f"The curves look healthy: the train loss fell from {fmt(b.initial)} to {fmt(b.final)} "
                   f"({score(ev, b):.2g}x chance {fmt(ev.chance)}).")
    elif primary:
        summary = (f"From the curves alone the likeliest cause is {primary.cause}: {'; '.join(primary.evidence)}. "
                   "Curves cannot confirm a cause; submit the job to /v1/jobs to test it with probe trainings.")
    else:
        summary = ("The run did not train well, but the curves alone point to no cause; submit the job to "
                   "/v1/jobs to test it with probe trainings.")
    return {"diagnosis": {"healthy": healthy, "primary_cause": primary.cause if primary else None,
                          "findings": [f.as_dict() for f in findings], "summary": summary,
                          "verdict_basis": "trained" if healthy else (primary.basis if primary else "inconclusive"),
                          "chance_loss": ev.chance}}
