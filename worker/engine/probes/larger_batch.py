"""A larger batch: fewer, less noisy steps, for runs whose batch of a few samples makes every
gradient a noisy guess."""

from __future__ import annotations

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun

#: Batches of at most this many samples count as tiny; the probe tries LARGE_BATCH.
TINY_BATCH = 4
LARGE_BATCH = 32


class LargerBatch(Probe):
    name: ProbeName = "larger_batch"
    priority = 41
    phase = 1

    def applies(self, ctx: ProbeContext) -> bool:
        return ctx.spec.training.batch_size <= TINY_BATCH and ctx.problem.n_train >= 2 * LARGE_BATCH

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        t = ctx.spec.training
        return [
            ProbeRun(
                name=f"batch_{LARGE_BATCH}",
                family=self.name,
                changes={"training.batch_size": LARGE_BATCH},
                model=ctx.spec.model,
                training=t.model_copy(update={"batch_size": LARGE_BATCH}),
            )
        ]
