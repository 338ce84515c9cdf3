"""How well a run trained, as one number the probes and rules compare (lower is better)."""

from __future__ import annotations

import math

from worker.diagnosis.rules.measures import share_of_chance
from worker.engine.train.loop import RunRecord
from worker.engine.train.problem import Problem


def final_loss(rec: RunRecord) -> float:
    """The last epoch's mean train loss; inf when it went non-finite or never ran."""
    if not rec.train_loss or rec.train_loss[-1] is None or rec.stop_reason == "non_finite":
        return math.inf
    return float(rec.train_loss[-1])


def run_score(rec: RunRecord, problem: Problem) -> float:
    """Final train loss as a share of chance, as the rules score a run: 0 fits perfectly, 1 is a
    constant guess, inf diverged."""
    return share_of_chance(final_loss(rec), problem.chance)
