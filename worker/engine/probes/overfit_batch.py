"""One small batch trained on repeatedly: a model and optimizer that work can memorize it."""

from __future__ import annotations

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun
from worker.engine.train.problem import Problem

#: Samples in the batch to memorize.
BATCH = 16
#: Optimizer steps on it (one step an epoch, the whole batch each time).
STEPS = 150


def one_batch(p: Problem) -> Problem:
    n = min(BATCH, p.n_train)
    return p.with_data(p.x_train[:n], p.y_train[:n])


class OverfitBatch(Probe):
    name: ProbeName = "overfit_batch"
    priority = 30

    def applies(self, ctx: ProbeContext) -> bool:
        # memorizing a batch speaks only to whether the labels can be learned at all: a baseline
        # whose validation result already shows signal has answered that
        return not ctx.verdict.signal

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        t = ctx.spec.training
        return [
            ProbeRun(
                name=self.name,
                family=self.name,
                changes={
                    "data": f"the first {BATCH} training samples only",
                    "training.batch_size": BATCH,
                    "training.epochs": STEPS,
                },
                model=ctx.spec.model,
                training=t.model_copy(update={"batch_size": BATCH, "epochs": STEPS}),
                data=one_batch,
            )
        ]
