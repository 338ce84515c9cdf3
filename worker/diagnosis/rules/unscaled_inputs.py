"""Inputs on very large or very different scales.

Confirms: the same run on standardized inputs recovers the loss (or, with a second fault, a
``combination`` probe does: see ``joint``). Suggests only: the input-scale pre-check flagged the
features and the baseline did not train. Rules out: a baseline that trained, with nothing flagged.
"""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import best_recovery, fmt, gain, trained

CAUSE: RuleCause = "unscaled_inputs"

FIX: dict[str, object] = {"data": "standardize each feature with the training split's mean and standard deviation"}


def rule(ev: Evidence) -> Finding | None:
    flagged = ev.flagged("input_scale")
    probe = best_recovery(ev, ("standardize_inputs",))
    if probe is None:
        if not flagged or trained(ev, ev.baseline):
            return None
        tried = ev.family("standardize_inputs")
        evidence = [
            ev.detail("input_scale"),
            f"the train loss went from {fmt(ev.baseline.initial)} to "
            f"{fmt(ev.baseline.final)} (chance {fmt(ev.chance)})",
        ]
        if tried:
            evidence.append(
                f"standardized inputs alone, at the spec's lr, reached {fmt(tried[0].final)}: the lr "
                "suits the raw scale, so it needs retuning with them"
            )
        return Finding(CAUSE, 0.6, evidence, FIX)
    evidence = [ev.detail("input_scale")] if flagged else []
    evidence.append(
        f"train loss {fmt(ev.baseline.final)} on the inputs as given; {fmt(probe.final)} with the "
        f"same run on standardized inputs (chance {fmt(ev.chance)})"
    )
    return Finding(CAUSE, 0.92 if flagged else 0.7, evidence, FIX, gain(ev, probe), True)
