"""Diagnose loss curves from a run made elsewhere, without training (``POST /v1/diagnose/curves``).

Torch-free. Without interventions nothing can be confirmed: every finding here is a symptom,
with a confidence to match, and the summary says which job would confirm it. The findings come from the
job rules themselves: their symptom halves (``worker.diagnosis.rules.SYMPTOMS``) read the posted train
curve, and the overfitting rule the validation curve, so a threshold changed in a rule changes both.

Richer telemetry, when the run recorded it, feeds the gradient symptom halves of the job rules
(``GRADIENT_SYMPTOMS``): per-layer gradient norms per epoch (``layers``, input side first) give the
first/last layer ratio that the vanishing and exploding gradient rules read at a job's first step
(``VANISH_RATIO``, ``EXPLODE_RATIO``), and the training-loop monitor's records (``monitor``: its setup and
step records, the types of ``/v1/runs``) go through ``worker.diagnosis.monitor_rules``: a broken invariant
there is a ``training_loop_bug``, listed first.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field, model_validator

from worker.contract.spec import LossName, Strict
from worker.contract.telemetry import MAX_LAYERS, MonitorSetup, StepRecord
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.monitor_rules import LOOP_BUG, diagnose_run
from worker.diagnosis.record import RunRecord
from worker.diagnosis.rules import GRADIENT_SYMPTOMS, SYMPTOMS, overfitting, vanishing_gradients
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import FALLING, LayerRatio, falling_rate, fmt, score, trained

#: Most step records of a monitored run in one request (what ``lossdoctor.Monitor`` keeps in memory).
MAX_MONITOR_STEPS = 20_000


class LayerCurve(Strict):
    """One layer's gradient L2 norm per epoch (the same epochs as ``train_loss``); ``null`` where non-finite."""

    name: str = Field(min_length=1, max_length=300)
    grad_norm: list[float | None] = Field(min_length=1, max_length=100_000)

    @model_validator(mode="after")
    def _non_negative(self) -> LayerCurve:
        if any(v is not None and v < 0 for v in self.grad_norm):
            raise ValueError(f"layer {self.name!r}: a gradient norm is never negative")
        return self


class MonitorTelemetry(Strict):
    """What ``lossdoctor.Monitor`` recorded about the training loop: its setup and step records."""

    setup: MonitorSetup
    steps: list[StepRecord] = Field(default_factory=list, max_length=MAX_MONITOR_STEPS)


class CurvesRequest(Strict):
    """Per-epoch losses of one run; ``null`` stands for a non-finite value."""

    train_loss: list[float | None] = Field(min_length=2, max_length=100_000)
    val_loss: list[float | None] | None = Field(None, max_length=100_000)
    loss: LossName | None = None
    n_classes: int | None = Field(None, ge=2, le=100_000)
    chance_loss: float | None = Field(None, gt=0.0)
    initial_loss: float | None = None
    layers: list[LayerCurve] | None = Field(
        None,
        min_length=2,
        max_length=MAX_LAYERS,
        description="per-layer gradient L2 norms per epoch, input side first (first/last ratio: vanishing or "
        "exploding gradients)",
    )
    monitor: MonitorTelemetry | None = Field(
        None, description="lossdoctor.Monitor's setup and step records; a broken invariant is training_loop_bug"
    )

    @model_validator(mode="after")
    def _chance_known(self) -> CurvesRequest:
        if self.chance_loss is None and self.n_classes is None:
            raise ValueError(
                "give chance_loss (the loss of the best constant prediction) or n_classes "
                "(chance is then log(n_classes)), so the curves can be judged against chance"
            )
        for layer in self.layers or []:
            if len(layer.grad_norm) != len(self.train_loss):
                raise ValueError(
                    f"layer {layer.name!r} has {len(layer.grad_norm)} gradient norms for "
                    f"{len(self.train_loss)} epochs of train_loss: give one per epoch"
                )
        names = [layer.name for layer in self.layers or []]
        if len(set(names)) != len(names):
            raise ValueError("layers: each layer name once")
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
    run = RunRecord(
        initial_loss=req.initial_loss if req.initial_loss is not None else train[0],
        initial_val_loss=None,
        train_loss=train,
        val_loss=list(req.val_loss or []),
        stop_reason="non_finite" if nonfinite else "completed",
    )
    return Evidence(
        loss=req.loss or "unknown",
        chance=chance,
        val_chance=chance if req.val_loss else math.nan,
        n_classes=req.n_classes,
        n_train=0,
        n_val=0,
        val_majority=None,
        training={},
        layer_types=[],
        checks={},
        baseline=run,
    )


def grad_ratio(req: CurvesRequest) -> LayerRatio | None:
    """First layer's gradient norm over the last layer's at the first epoch (1-based) where both are finite
    and the last is positive, with the two names; None without such an epoch."""
    if not req.layers:
        return None
    first, last = req.layers[0], req.layers[-1]
    for epoch, (g0, g1) in enumerate(zip(first.grad_norm, last.grad_norm, strict=True), start=1):
        if g0 is not None and g1 is not None and math.isfinite(g0) and math.isfinite(g1) and g1 > 0:
            return LayerRatio(g0 / g1, first.name, last.name, f"at epoch {epoch}")
    return None


def _gradient_findings(req: CurvesRequest, ev: Evidence) -> list[Finding]:
    """The symptom halves of the vanishing and exploding gradient rules, from the layers' gradient norms."""
    measured = grad_ratio(req)
    if measured is None:
        return []
    return [f for read in GRADIENT_SYMPTOMS.values() if (f := read(ev, measured)) is not None]


def _monitor_findings(req: CurvesRequest) -> list[Finding]:
    """The monitor rules' findings on the posted records (``training_loop_bug`` first)."""
    if req.monitor is None:
        return []
    found = diagnose_run(req.monitor.setup, req.monitor.steps)["findings"]
    findings = [Finding(f["cause"], f["confidence"], f["evidence"], f["fix"]) for f in found]
    return sorted(findings, key=lambda f: f.cause != LOOP_BUG)


def _findings(ev: Evidence) -> list[Finding]:
    """A validation curve that rose from its best epoch (the overfitting rule, measured) alone, or else the
    rules' symptom halves that the train curve shows (each excludes the others: at most one)."""
    rising = overfitting.rule(ev)
    if rising is not None:
        # read off the validation curve itself: the run's best epoch is the early-stopped run
        return [rising]
    return [f for read in SYMPTOMS.values() if (f := read(ev)) is not None]


def diagnose_curves(req: CurvesRequest) -> dict[str, Any]:
    """``{"diagnosis": ...}`` shaped like a job result's diagnosis; findings are symptoms only."""
    ev = _evidence(req)
    b = ev.baseline
    monitored = _monitor_findings(req)
    loop_bugs = [f for f in monitored if f.cause == LOOP_BUG]
    healthy = (
        trained(ev, b)
        and not (falling_rate(b) >= FALLING and score(ev, b) > 0.1)
        and overfitting.rule(ev) is None
        and not loop_bugs
    )
    findings: list[Finding] = []
    if not healthy:
        # vanishing gradients explain a stalled loss better than a small lr; an explosion during a divergence
        # is the lr's mechanism until a smaller lr is shown not to help, so it follows lr_too_high
        gradients = _gradient_findings(req, ev)
        vanishing = [f for f in gradients if f.cause == vanishing_gradients.CAUSE]
        for f in loop_bugs + vanishing + _findings(ev) + gradients + monitored:
            if f.cause not in {g.cause for g in findings}:
                findings.append(f)
    primary = findings[0] if findings else None
    if primary is not None and primary.cause == LOOP_BUG:
        summary = (
            f"The training-loop monitor saw a {LOOP_BUG}: {'; '.join(primary.evidence)}. "
            f"Fix: {'; '.join(f'{k}: {v}' for k, v in primary.fix.items())}."
        )
    elif healthy:
        summary = (
            f"The curves look healthy: the train loss fell from {fmt(b.initial)} to {fmt(b.final)} "
            f"({score(ev, b):.2g}x chance {fmt(ev.chance)})."
        )
    elif primary:
        summary = (
            f"From the curves alone the likeliest cause is {primary.cause}: {'; '.join(primary.evidence)}. "
            "Curves cannot confirm a cause; submit the job to /v1/jobs to test it with probe trainings."
        )
    else:
        summary = (
            "The run did not train well, but the curves alone point to no cause; submit the job to "
            "/v1/jobs to test it with probe trainings."
        )
    return {
        "diagnosis": {
            "healthy": healthy,
            "primary_cause": primary.cause if primary else None,
            "findings": [f.as_dict() for f in findings],
            "summary": summary,
            "verdict_basis": "trained"
            if healthy
            else ("monitor" if primary in monitored else primary.basis if primary else "inconclusive"),
            "chance_loss": ev.chance,
        }
    }
