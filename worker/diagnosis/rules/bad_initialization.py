"""Initial weights that stop learning; confirmed when PyTorch's standard init recovers the loss."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import best_recovery, fmt, gain

CAUSE: RuleCause = "bad_initialization"


def rule(ev: Evidence) -> Finding | None:
    if not ev.custom_init:
        return None
    probe = best_recovery(ev, ("standard_init",))
    if probe is None:
        return None
    b = ev.baseline
    evidence = [
        f"with the spec's init the train loss went from {fmt(b.initial)} to {fmt(b.final)} (chance {fmt(ev.chance)})",
        f"the same run with PyTorch's default init fell to {fmt(probe.final)}",
    ]
    if b.initial is not None and b.initial > 3 * ev.chance:
        evidence.append(f"the loss at init was {b.initial / ev.chance:.3g}x chance")
    return Finding(
        CAUSE,
        0.9,
        evidence,
        {"model.init": {"weight": "default", "bias": "default"}},
        gain(ev, probe),
        True,
    )
