"""Two causes at once: a ``combination`` probe recovered the loss where neither of its single
changes did.

Confirms both causes (each of them is needed: its single change alone did not recover the loss,
and with the other change it did). Adds nothing when a single change already recovered the
loss: that change is then the finding, and its rule says so.
"""

from __future__ import annotations

from worker.diagnosis.evidence import Evidence
from worker.diagnosis.record import RunRecord
from worker.diagnosis.rules import unscaled_inputs
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import fmt, gain, recovers

#: The cause each combined change removes, and the fix it names.
CAUSE_OF: dict[str, str] = {
    "drop_non_finite": "non_finite_data",
    "standardize_inputs": "unscaled_inputs",
    "standard_init": "bad_initialization",
}
FIX_OF: dict[str, dict[str, object]] = {
    "non_finite_data": {"data": "drop or impute the rows with NaN or infinite values before training"},
    "unscaled_inputs": unscaled_inputs.FIX,
    "bad_initialization": {"model.init": {"weight": "default", "bias": "default"}},
}


def _cause(family: str, run: RunRecord, lr: float) -> tuple[str, dict[str, object]]:
    if family == "lr_sweep":
        new = run.changes["training.lr"]
        return ("lr_too_high" if new < lr else "lr_too_low"), {"training.lr": new}
    cause = CAUSE_OF[family]
    return cause, FIX_OF[cause]


def joint_findings(ev: Evidence, findings: list[Finding]) -> list[Finding]:
    """``findings`` with the causes a recovering combination names confirmed (added or upgraded)."""
    if any(f.confirmed for f in findings):
        return findings
    combos = [p for p in ev.family("combination") if recovers(ev, p)]
    if not combos:
        return findings
    best = max(combos, key=lambda p: gain(ev, p))
    lr = float(ev.training.get("lr", 0.0))
    out = list(findings)
    won = gain(ev, best)
    parts = best.changes.get("combines", [])
    for family in parts:
        cause, fix = _cause(family, best, lr)
        other = [f for f in parts if f != family]
        evidence = [
            f"changing {family} alone did not recover the loss; together with {', '.join(other)} the same "
            f"run fell to {fmt(best.final)} (baseline {fmt(ev.baseline.final)}, chance {fmt(ev.chance)})"
        ]
        old = next((f for f in out if f.cause == cause), None)
        if old is not None:
            out.remove(old)
            evidence = old.evidence + evidence
            fix = old.fix or fix
        out.append(Finding(cause, 0.85, evidence, fix, won, True))
    return out
