"""From evidence to a diagnosis: run every rule, rank the findings, name the primary cause.

The primary cause is the confirmed finding whose intervention recovered the most; findings
within ``CLOSE`` of the best are ranked by the rule registry's precedence. No learnable signal
overrides everything (nothing else can be fixed). A run that trained well with nothing confirmed
is healthy.
"""

from __future__ import annotations

from typing import Any

from worker.evidence import Evidence
from worker.rules import RULES, Finding
from worker.rules.measures import trained
from worker.summary import summarize

#: Confirmed findings whose recovery is within this share of chance of the best count as equal.
CLOSE = 0.1


def rank(findings: list[Finding]) -> list[Finding]:
    """Findings best first: confirmed before symptoms, then by recovery (with precedence), then confidence."""
    order = list(RULES)
    confirmed = [f for f in findings if f.confirmed]
    others = sorted((f for f in findings if not f.confirmed), key=lambda f: (-f.confidence, order.index(f.cause)))
    ranked: list[Finding] = []
    signal = [f for f in confirmed if f.cause == "no_learnable_signal"]
    ranked.extend(signal)
    pool = [f for f in confirmed if f.cause != "no_learnable_signal"]
    while pool:
        top = max(f.gain for f in pool)
        close = [f for f in pool if f.gain >= top - CLOSE]
        pick = min(close, key=lambda f: order.index(f.cause))
        ranked.append(pick)
        pool.remove(pick)
    return ranked + others


def diagnose(ev: Evidence) -> dict[str, Any]:
    """The contract's ``diagnosis`` object for this evidence."""
    findings = [f for rule in RULES.values() if (f := rule(ev)) is not None]
    ranked = rank(findings)
    healthy = trained(ev, ev.baseline) and not any(f.confirmed for f in ranked)
    notes: list[str] = []
    if healthy:
        notes = [f"{f.cause}: {'; '.join(f.evidence)}" for f in ranked]
        ranked = []
    primary = ranked[0] if ranked else None
    b = ev.baseline
    cut_short = not b.nonfinite and len(b.train_loss) < b.epochs_planned
    summary = summarize(ev, primary, ranked, healthy)
    if cut_short:
        # a verdict on part of the run: say so first, so nobody acts on it unawares
        summary = (f"The budget ran out after {len(b.train_loss)} of {b.epochs_planned} epochs, so this covers "
                   f"only part of the run; raise budget_seconds for a full diagnosis. " + summary)
        notes.append(f"baseline stopped at the budget after {len(b.train_loss)} of {b.epochs_planned} epochs")
    return {
        "healthy": healthy,
        "primary_cause": primary.cause if primary else None,
        "findings": [f.as_dict() for f in ranked],
        "summary": summary,
        "complete": not cut_short,
        "notes": notes,
        "chance_loss": ev.chance,
        "verdict_basis": "intervention" if primary and primary.confirmed else (
            "symptoms" if primary else ("trained" if healthy else "inconclusive")),
    }
