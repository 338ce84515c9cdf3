"""Learning rate down and up by factors of 10, walking on in the direction that helps.

The first runs span three decades each way from the user's lr, with x0.3 and x3 beside it so
that the advice can be finer than a factor of 10 where a nearby lr is the better one;
``follow_up`` extends the sweep past its best end, a decade at a time, while the loss keeps
improving, up to ``MAX_DECADES`` decades from the user's lr.
"""

from __future__ import annotations

import math

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeOutcome, ProbeRun
from worker.engine.probes.scoring import run_score

#: The sweep never goes further than this many factors of 10 from the user's lr.
MAX_DECADES = 4
#: The first sweep, trained beside the baseline: three decades down and up, and half a decade
#: (about x0.3 and x3) each side of the user's lr.
FACTORS = (1e-3, 1e-2, 1e-1, 0.3, 3.0, 10.0, 1e2, 1e3)
#: An lr of 0 cannot be scaled: these lrs are tried instead.
FROM_ZERO = (1e-3, 1e-2)
#: A run whose final train loss is at most this share of chance needs no further lr.
GOOD_ENOUGH = 0.02


def _run(ctx: ProbeContext, factor: float) -> ProbeRun:
    t = ctx.spec.training
    lr = t.lr * factor
    return ProbeRun(
        name=f"lr_x{factor:g}",
        family=LrSweep.name,
        changes={"training.lr": lr},
        model=ctx.spec.model,
        training=t.model_copy(update={"lr": lr}),
    )


class LrSweep(Probe):
    name: ProbeName = "lr_sweep"
    priority = 10
    phase = 1

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        t = ctx.spec.training
        if t.lr == 0:
            return [
                ProbeRun(
                    name=f"lr_{lr:g}",
                    family=self.name,
                    changes={"training.lr": lr},
                    model=ctx.spec.model,
                    training=t.model_copy(update={"lr": lr}),
                )
                for lr in FROM_ZERO
            ]
        return [_run(ctx, f) for f in FACTORS]

    def follow_up(self, ctx: ProbeContext, done: list[ProbeOutcome]) -> list[ProbeRun]:
        lr0 = ctx.spec.training.lr
        decades = {}
        for o in done:
            if o.run.family == self.name and lr0 != 0:
                d = math.log10(o.run.changes["training.lr"] / lr0)
                if abs(d - round(d)) < 1e-6:  # whole decades only: the walk goes a decade at a time
                    decades[round(d)] = o
        if not decades:
            return []
        scored = {d: run_score(o.record, ctx.problem) for d, o in decades.items()}
        best = min(scored, key=lambda d: scored[d])
        improving = scored[best] < ctx.verdict.score * 0.98
        # walk on only from an end of the tried range, while it helps and is not already near perfect
        if not improving or scored[best] <= GOOD_ENOUGH or best == 0:
            return []
        step = 1 if best == max(scored) and best > 0 else -1 if best == min(scored) and best < 0 else 0
        nxt = best + step
        if step == 0 or abs(nxt) > MAX_DECADES or nxt in scored:
            return []
        return [_run(ctx, 10.0**nxt)]
