"""The model is too small to fit even the training data; a larger model recovers the loss."""

from __future__ import annotations

from worker.evidence import Evidence
from worker.rules.base import Finding
from worker.rules.measures import best_recovery, fmt, gain


def rule(ev: Evidence) -> Finding | None:
    probe = best_recovery(ev, ("bigger_model",))
    if probe is None:
        return None
    b = ev.baseline
    if not probe.val_best < 0.9 * b.val_best:
        return None
    evidence = [f"the train loss stalled at {fmt(b.final)} (chance {fmt(ev.chance)})",
                f"a larger model ({probe.changes.get('model.layers')}) fell to {fmt(probe.final)} in the same "
                f"steps, with validation loss {fmt(probe.val_best)} against {fmt(b.val_best)}"]
    return Finding("insufficient_capacity", 0.88, evidence, {"model.layers": probe.changes.get("model.layers")},
                   gain(ev, probe), True)
