"""Inputs on very large or very different scales; confirmed when standardized inputs recover the loss."""

from __future__ import annotations

from worker.evidence import Evidence
from worker.rules.base import Finding
from worker.rules.measures import best_recovery, fmt, gain


def rule(ev: Evidence) -> Finding | None:
    probe = best_recovery(ev, ("standardize_inputs",))
    if probe is None:
        return None
    flagged = ev.flagged("input_scale")
    evidence = [ev.detail("input_scale")] if flagged else []
    evidence.append(f"train loss {fmt(ev.baseline.final)} on the inputs as given; {fmt(probe.final)} with the "
                    f"same run on standardized inputs (chance {fmt(ev.chance)})")
    fix = {"data": "standardize each feature with the training split's mean and standard deviation"}
    return Finding("unscaled_inputs", 0.92 if flagged else 0.7, evidence, fix, gain(ev, probe), True)
