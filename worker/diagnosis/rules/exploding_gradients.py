"""Gradient norms that grow without bound whatever the lr.

Confirms: the run diverges at the spec's lr and at smaller ones (within a decade), and a
standard init, batchnorm or clipping recovers it. Suggests only: first-step gradients that grow
by orders of magnitude toward the input, or dwarf their weights, when the lr was not shown to be
irrelevant. Rules out: a smaller lr that recovers the loss (then the lr is the cause, and the
explosion its mechanism), a baseline that trained, data with NaN (every gradient is NaN then).
"""

from __future__ import annotations

import math

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import (
    SYMPTOM,
    LayerRatio,
    best_recovery,
    diverged,
    fmt,
    gain,
    recovers,
    trained,
    weight_grads,
)

CAUSE: RuleCause = "exploding_gradients"

#: First-layer over last-layer gradient norm at the first step above which gradients "explode".
EXPLODE_RATIO = 1e2
#: A layer whose first gradient is this many times its weights' norm takes steps far past them.
GRAD_TO_WEIGHT = 1e2


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    if trained(ev, b) or not diverged(ev, b):
        return None
    lr = ev.training.get("lr", 0.0)
    smaller = [p for p in ev.family("lr_sweep") if p.changes.get("training.lr", lr) < lr]
    if any(recovers(ev, p) for p in smaller):
        return None  # a smaller lr tames it: the lr finding, not an explosion of its own
    lr_independent = sum(diverged(ev, p) for p in smaller) >= 2 and all(
        diverged(ev, p) for p in smaller if p.changes["training.lr"] >= lr / 10.5
    )
    weights = weight_grads(ev)
    growth = None
    if len(weights) >= 3 and weights[0][1] is not None and weights[-1][1]:
        growth = weights[0][1] / weights[-1][1]
    # NaN in the data makes every gradient NaN: that is the data's fault, not an explosion
    nonfinite_grad = not ev.flagged("non_finite") and any(v is None or not math.isfinite(v) for _, v in weights)
    to_weight = [
        (n, g / w) for n, g in weights if g is not None and (w := ev.first_step_weight_norm.get(n)) and math.isfinite(g)
    ]
    huge = max(to_weight, key=lambda nr: nr[1]) if to_weight else None
    grows = (
        (growth is not None and growth >= EXPLODE_RATIO)
        or nonfinite_grad
        or (huge is not None and huge[1] >= GRAD_TO_WEIGHT)
    )
    if not lr_independent and not grows:
        return None
    evidence = []
    if growth is not None and growth >= EXPLODE_RATIO:
        evidence.append(
            f"at the first step the gradient norm of {weights[0][0]} was {growth:.3g}x that of "
            f"{weights[-1][0]} (first-layer norm {fmt(weights[0][1])})"
        )
    elif nonfinite_grad:
        evidence.append("gradient norms were non-finite at the first step")
    if huge is not None and huge[1] >= GRAD_TO_WEIGHT:
        evidence.append(f"at the first step the gradient of {huge[0]} was {huge[1]:.3g}x the norm of its weights")
    if lr_independent:
        lrs = ", ".join(f"{p.changes['training.lr']:g}" for p in smaller if diverged(ev, p))
        evidence.append(f"the run diverged at lr {lr:g} and also at lr {lrs}: the explosion does not depend on the lr")
    probe = best_recovery(ev, ("standard_init", "batchnorm", "grad_clip"))
    fix = {
        "model.init": {"weight": "kaiming_normal", "bias": "zeros"},
        "model.layers": "add batchnorm",
        "training.grad_clip_norm": 1.0,
    }
    if probe is not None and lr_independent:
        evidence.append(
            f"with {probe.name.replace('_', ' ')} the same run fell to {fmt(probe.final)} (chance {fmt(ev.chance)})"
        )
        return Finding(CAUSE, 0.9, evidence, fix, gain(ev, probe), True)
    return Finding(CAUSE, 0.8 if lr_independent and grows else 0.55, evidence, fix)


def gradient_symptoms(ev: Evidence, measured: LayerRatio) -> Finding | None:
    """The symptom half read from a first/last gradient ratio alone (``/v1/diagnose/curves``, the per-layer
    norms a run recorded): at least EXPLODE_RATIO while the train loss diverged, on a run that did not train.
    Confidence SYMPTOM; with no smaller lr tried, the lr may be the cause and the explosion its mechanism."""
    b = ev.baseline
    if trained(ev, b) or measured.ratio < EXPLODE_RATIO or not diverged(ev, b):
        return None
    return Finding(
        CAUSE,
        SYMPTOM,
        [measured.sentence()],
        {"model.init": {"weight": "kaiming_normal", "bias": "zeros"}, "training.grad_clip_norm": 1.0},
    )
