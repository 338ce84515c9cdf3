"""Steps overshoot.

Confirms: a smaller lr recovers the loss where the baseline, at the spec's lr, diverged,
oscillated or stalled without falling steadily. Suggests only: divergence or oscillation with no
smaller lr tried. Rules out: a baseline still falling steadily (then it is slow, not overshooting),
or a smaller lr that does no better.
"""

from __future__ import annotations

from worker.evidence import Evidence
from worker.rules.base import Finding
from worker.rules.measures import diverged, fmt, gain, recovers, still_falling


def oscillation(train_loss: list[float | None]) -> float:
    """Share of epoch-to-epoch changes that went up (0: falls every epoch)."""
    vals = [v for v in train_loss if v is not None]
    steps = list(zip(vals, vals[1:], strict=False))
    return sum(b > a for a, b in steps) / len(steps) if steps else 0.0


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    lr = ev.training.get("lr", 0.0)
    down = [p for p in ev.family("lr_sweep") if p.changes.get("training.lr", lr) < lr]
    fixed = [p for p in down if recovers(ev, p)]
    if not fixed or (not diverged(ev, b) and still_falling(ev, b)):
        return None
    best = min(fixed, key=lambda p: p.final)
    largest_ok = max(fixed, key=lambda p: p.changes["training.lr"])
    evidence = []
    if b.nonfinite:
        evidence.append(f"with lr {lr:g} the train loss became non-finite")
    elif diverged(ev, b):
        evidence.append(f"with lr {lr:g} the train loss rose from {fmt(b.initial)} to a peak of {fmt(b.peak)} "
                        f"and ended at {fmt(b.final)}")
    else:
        evidence.append(f"with lr {lr:g} the train loss went from {fmt(b.initial)} to {fmt(b.final)} (chance "
                        f"{fmt(ev.chance)}), rising in {100 * oscillation(b.train_loss):.0f}% of its epochs")
    evidence.append(f"the same run with lr {best.changes['training.lr']:g} fell to {fmt(best.final)} "
                    f"(chance {fmt(ev.chance)})")
    return Finding("lr_too_high", 0.93, evidence, {"training.lr": largest_ok.changes["training.lr"]},
                   gain(ev, best), True)
