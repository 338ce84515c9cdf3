"""The loss does not fit the model's output or the labels; confirmed when fitting the output recovers it."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import best_recovery, fmt, gain, trained

CAUSE: RuleCause = "loss_output_mismatch"


def rule(ev: Evidence) -> Finding | None:
    flagged = [c for c in ("output_loss", "label_range") if ev.flagged(c)]
    if not flagged:
        return None
    evidence = [ev.detail(c) for c in flagged]
    b = ev.baseline
    evidence.append(f"the baseline's train loss ended at {fmt(b.final)} (chance {fmt(ev.chance)})")
    probe = best_recovery(ev, ("fix_output",))
    fix: dict[str, object] = {}
    fitted = ev.family("fix_output")
    if fitted:
        fix = dict(fitted[0].changes)
    elif "label_range" in flagged:
        fix = {"training.loss": "a loss that fits the labels (cross_entropy for class indices)"}
    if probe is not None:
        evidence.append(
            f"with the output fixed ({probe.changes.get('model.layers', 'output changed')}) "
            f"the loss fell to {fmt(probe.final)}"
        )
        return Finding(CAUSE, 0.95, evidence, fix, gain(ev, probe), True)
    if trained(ev, b):
        return None
    return Finding(CAUSE, 0.5, evidence, fix)
