"""Steps overshoot: the run diverged or oscillated and a smaller lr recovers the loss."""

from __future__ import annotations

from worker.evidence import Evidence
from worker.rules.base import Finding
from worker.rules.measures import diverged, fmt, gain, recovers


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    lr = ev.training.get("lr", 0.0)
    down = [p for p in ev.family("lr_sweep") if p.changes.get("training.lr", lr) < lr]
    fixed = [p for p in down if recovers(ev, p)]
    if not diverged(ev, b) or not fixed:
        return None
    best = min(fixed, key=lambda p: p.final)
    largest_ok = max(fixed, key=lambda p: p.changes["training.lr"])
    evidence = []
    if b.nonfinite:
        evidence.append(f"with lr {lr:g} the train loss became non-finite")
    else:
        evidence.append(f"with lr {lr:g} the train loss rose from {fmt(b.initial)} to a peak of {fmt(b.peak)} "
                        f"and ended at {fmt(b.final)}")
    evidence.append(f"the same run with lr {best.changes['training.lr']:g} fell to {fmt(best.final)} "
                    f"(chance {fmt(ev.chance)})")
    return Finding("lr_too_high", 0.93, evidence, {"training.lr": largest_ok.changes["training.lr"]},
                   gain(ev, best), True)
