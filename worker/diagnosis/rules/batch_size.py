"""The batch size: too few steps an epoch (a smaller batch recovers the loss), or a batch so small
that every gradient is noise (a larger batch recovers it)."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import best_recovery, fmt, gain

CAUSE: RuleCause = "batch_size"


def rule(ev: Evidence) -> Finding | None:
    probe = best_recovery(ev, ("smaller_batch", "larger_batch"))
    if probe is None:
        return None
    bs = ev.training.get("batch_size", 0)
    steps = -(-ev.n_train // bs) if bs else 0
    what = "noisy steps" if probe.family == "larger_batch" else "steps an epoch"
    evidence = [
        f"batch size {bs} gives {steps} {what} on {ev.n_train} samples; the train loss ended at "
        f"{fmt(ev.baseline.final)}",
        f"with batch size {probe.changes['training.batch_size']} the same run fell to {fmt(probe.final)}",
    ]
    return Finding(
        CAUSE,
        0.75,
        evidence,
        {"training.batch_size": probe.changes["training.batch_size"]},
        gain(ev, probe),
        True,
    )
