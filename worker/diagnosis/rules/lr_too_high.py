"""Steps overshoot.

Confirms: a smaller lr recovers the loss where the baseline, at the spec's lr, diverged,
oscillated or stalled without falling steadily. Suggests only: a divergence that a smaller lr
eased (winning MIN_GAIN of chance) without recovering the loss in the epochs given. Rules out: a
baseline still falling steadily (then it is slow, not overshooting), or a smaller lr that does no
better.
"""

from __future__ import annotations

import math

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.record import RunRecord
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import MIN_GAIN, SYMPTOM, diverged, fmt, gain, recovers, still_falling

CAUSE: RuleCause = "lr_too_high"

#: Confidence of the symptom half: a divergence that a smaller lr eased without recovering it.
SUGGESTED = 0.75


def oscillation(train_loss: list[float | None]) -> float:
    """Share of epoch-to-epoch changes that went up (0: falls every epoch)."""
    vals = [v for v in train_loss if v is not None]
    steps = list(zip(vals, vals[1:], strict=False))
    return sum(b > a for a, b in steps) / len(steps) if steps else 0.0


def _suggested(ev: Evidence, down: list[RunRecord], lr: float) -> Finding | None:
    """The symptom half: the run diverged and a smaller lr did clearly better without recovering it."""
    b = ev.baseline
    better = [p for p in down if math.isfinite(p.final) and gain(ev, p) >= MIN_GAIN]
    if not diverged(ev, b) or not better:
        return None
    best = max(better, key=lambda p: gain(ev, p))
    evidence = [
        f"with lr {lr:g} the train loss "
        + (
            "became non-finite"
            if b.nonfinite
            else f"rose to a peak of {fmt(b.peak)} and ended at {fmt(b.final)} (chance {fmt(ev.chance)})"
        ),
        f"with lr {best.changes['training.lr']:g} it ended at {fmt(best.final)}: better, though not trained "
        "in the epochs given",
    ]
    return Finding(CAUSE, SUGGESTED, evidence, {"training.lr": best.changes["training.lr"]})


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    lr = ev.training.get("lr", 0.0)
    down = [p for p in ev.family("lr_sweep") if p.changes.get("training.lr", lr) < lr]
    fixed = [p for p in down if recovers(ev, p)]
    if not fixed:
        return _suggested(ev, down, lr)
    if not diverged(ev, b) and still_falling(ev, b):
        return None
    best = min(fixed, key=lambda p: p.final)
    largest_ok = max(fixed, key=lambda p: p.changes["training.lr"])
    evidence = []
    if b.nonfinite:
        evidence.append(f"with lr {lr:g} the train loss became non-finite")
    elif diverged(ev, b):
        evidence.append(
            f"with lr {lr:g} the train loss rose from {fmt(b.initial)} to a peak of {fmt(b.peak)} "
            f"and ended at {fmt(b.final)}"
        )
    else:
        evidence.append(
            f"with lr {lr:g} the train loss went from {fmt(b.initial)} to {fmt(b.final)} (chance "
            f"{fmt(ev.chance)}), rising in {100 * oscillation(b.train_loss):.0f}% of its epochs"
        )
    evidence.append(
        f"the same run with lr {best.changes['training.lr']:g} fell to {fmt(best.final)} (chance {fmt(ev.chance)})"
    )
    return Finding(CAUSE, 0.93, evidence, {"training.lr": largest_ok.changes["training.lr"]}, gain(ev, best), True)


def symptoms(ev: Evidence) -> Finding | None:
    """The cause as the baseline's own curve shows it, with no probe (``/v1/diagnose/curves``): the train
    loss diverged or went non-finite. Confidence SYMPTOM; the fix is a guess, a decade smaller."""
    b = ev.baseline
    if not diverged(ev, b):
        return None
    what = (
        "became non-finite"
        if b.nonfinite
        else f"rose from {fmt(b.initial)} to a peak of {fmt(b.peak)} and ended at {fmt(b.final)}"
    )
    return Finding(CAUSE, SYMPTOM, [f"the train loss {what}"], {"training.lr": "10x smaller"})
