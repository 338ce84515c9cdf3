"""NaN or infinite values in the data; confirmed when training without those rows works."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import best_recovery, fmt, gain

CAUSE: RuleCause = "non_finite_data"


def rule(ev: Evidence) -> Finding | None:
    if not ev.flagged("non_finite"):
        return None
    rows = ev.checks["non_finite"].numbers.get("rows", 0)
    evidence = [ev.detail("non_finite")]
    if ev.baseline.nonfinite:
        evidence.append("the training loss was non-finite from the start")
    fix = {"data": f"drop or impute the {rows} rows with NaN or infinite values before training"}
    probe = best_recovery(ev, ("drop_non_finite",))
    if probe is not None:
        evidence.append(
            f"without those rows the same run reached a train loss of {fmt(probe.final)} (chance {fmt(ev.chance)})"
        )
        return Finding(CAUSE, 0.97, evidence, fix, gain(ev, probe), True)
    return Finding(CAUSE, 0.8 if ev.baseline.nonfinite else 0.5, evidence, fix)
