"""A smaller batch: more, noisier steps per epoch, for runs that take only a few steps an epoch."""

from __future__ import annotations

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun

#: Batches per epoch below which "auto" tries a smaller batch, and the size it tries.
FEW_STEPS = 4
SMALL_BATCH = 32


class SmallerBatch(Probe):
    name: ProbeName = "smaller_batch"
    priority = 40

    def applies(self, ctx: ProbeContext) -> bool:
        t = ctx.spec.training
        return t.batch_size > SMALL_BATCH and ctx.problem.n_train / t.batch_size < FEW_STEPS

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        t = ctx.spec.training
        bs = min(SMALL_BATCH, t.batch_size)
        return [
            ProbeRun(
                name=f"batch_{bs}",
                family=self.name,
                changes={"training.batch_size": bs},
                model=ctx.spec.model,
                training=t.model_copy(update={"batch_size": bs}),
            )
        ]
