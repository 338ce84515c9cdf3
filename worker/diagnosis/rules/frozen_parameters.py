"""Parameters that should train never change; confirmed when unfreezing them recovers the loss."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import best_recovery, fmt, gain, trained

CAUSE: RuleCause = "frozen_parameters"


def rule(ev: Evidence) -> Finding | None:
    if not ev.flagged("frozen"):
        return None
    numbers = ev.checks["frozen"].numbers
    evidence = [ev.detail("frozen")]
    b = ev.baseline
    evidence.append(f"the train loss went from {fmt(b.initial)} to {fmt(b.final)}")
    fix: dict[str, object] = {f"model.layers[{i}].frozen": False for i in numbers.get("frozen_layers", [])}
    if numbers.get("lr") == 0:
        fix["training.lr"] = 1e-3
    probe = best_recovery(ev, ("unfreeze",))
    if probe is not None:
        evidence.append(f"with every layer training the loss fell to {fmt(probe.final)}")
        return Finding(CAUSE, 0.95, evidence, fix, gain(ev, probe), True)
    if trained(ev, b):
        return None
    every = numbers.get("frozen_layers") == numbers.get("param_layers") or numbers.get("lr") == 0
    return Finding(CAUSE, 0.7 if every else 0.3, evidence, fix)
