"""Updates too small to move the loss; a larger lr recovers it."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import SYMPTOM, diverged, fmt, gain, moved, recovers, score

CAUSE: RuleCause = "lr_too_low"

#: Below this score (share of chance) a run that moved is slow but working: more steps, not more lr.
STILL_HIGH = 0.35


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    lr = ev.training.get("lr", 0.0)
    up = [p for p in ev.family("lr_sweep") if p.changes.get("training.lr", 0.0) > lr]
    fixed = [p for p in up if recovers(ev, p)]
    if not fixed or (moved(ev, b) and score(ev, b) < STILL_HIGH):
        return None
    best = min(fixed, key=lambda p: p.final)
    drop = (b.initial or b.final) - b.final
    evidence = [
        f"with lr {lr:g} the train loss moved from {fmt(b.initial)} to {fmt(b.final)} "
        f"(a change of {fmt(drop)}; chance {fmt(ev.chance)})",
        f"the same run with lr {best.changes['training.lr']:g} fell to {fmt(best.final)}",
    ]
    return Finding(CAUSE, 0.9, evidence, {"training.lr": best.changes["training.lr"]}, gain(ev, best), True)


def symptoms(ev: Evidence) -> Finding | None:
    """The cause as the baseline's own curve shows it, with no probe (``/v1/diagnose/curves``): the train
    loss barely moved (``moved``: less than 10%) and did not diverge. A weak symptom (0.6 x SYMPTOM): a bad
    init or data without signal stall a loss as well."""
    b = ev.baseline
    if diverged(ev, b) or moved(ev, b):
        return None
    return Finding(
        CAUSE,
        SYMPTOM * 0.6,
        [f"the train loss barely moved ({fmt(b.initial)} to {fmt(b.final)}, chance {fmt(ev.chance)})"],
        {"training.lr": "10x larger, or submit the job to test init, lr and data"},
    )
