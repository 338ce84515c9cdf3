"""The penalty dominates: confirmed when the run without regularization recovers the loss; the
penalty outweighing the data loss is reported as a symptom either way."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import best_recovery, fmt, gain

CAUSE: RuleCause = "over_regularization"

#: A penalty at least this share of the data loss at the end "dominates".
DOMINANT_SHARE = 0.5
#: Weights shrunk to at most this share of their norm without regularization are pinned by it.
SHRUNK = 0.5


def rule(ev: Evidence) -> Finding | None:
    t = ev.training
    regs = {k: t.get(k, 0.0) for k in ("l1", "l2", "weight_decay") if t.get(k, 0.0)}
    dropout = "dropout" in ev.layer_types
    if not regs and not dropout:
        return None
    b = ev.baseline
    pen = b.penalty[-1] if b.penalty and b.penalty[-1] is not None else 0.0
    share = pen / b.final if b.final and b.final > 0 and b.final != float("inf") else 0.0
    fix: dict[str, object] = {f"training.{k}": 0.0 for k in regs}
    if dropout:
        fix["model.layers"] = "lower or remove dropout"
    probe = best_recovery(ev, ("no_regularization",))
    settings = ", ".join(f"{k} {v:g}" for k, v in regs.items()) + (" and dropout" if dropout else "")
    evidence = [f"{settings}: the penalty ended at {fmt(pen)} against a data loss of {fmt(b.final)}"]
    if probe is not None:
        evidence.append(f"without regularization the same run fell to {fmt(probe.final)} (chance {fmt(ev.chance)})")
        return Finding(CAUSE, 0.93, evidence, fix, gain(ev, probe), True)
    if share >= DOMINANT_SHARE:
        evidence.append(f"the penalty is {share:.2g}x the data loss: it dominates what the optimizer minimizes")
        return Finding(CAUSE, 0.5, evidence, fix)
    free = ev.family("no_regularization")
    if regs and free and b.param_norm and free[0].param_norm and b.param_norm <= SHRUNK * free[0].param_norm:
        evidence.append(
            f"it holds the weights at norm {fmt(b.param_norm)}, against {fmt(free[0].param_norm)} "
            "when the data alone decides: the penalty, not the data, sets the solution"
        )
        return Finding(CAUSE, 0.5, evidence, fix)
    return None
