"""The baseline trained on: its model and optimizer continue for more epochs.

Continuing (rather than retraining for longer) costs only the extra epochs, and answers the
question exactly: what would the same run have reached had it not stopped?
"""

from __future__ import annotations

import math

from worker.contract.vocabulary import ProbeName
from worker.diagnosis.rules.too_few_steps import MIN_FURTHER_GAIN
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun

#: The continued run ends at up to this many times the spec's epochs...
FACTOR = 4
#: ...but adds at least the spec's epochs, and beyond that no more than this many steps.
EXTRA_STEPS = 1_000
#: A run shorter than this many steps in all is continued to it (within EXTRA_STEPS): a few
#: dozen steps cannot show where a run is heading, whatever factor of them is added.
MIN_TOTAL_STEPS = 400


def extra_epochs(epochs: int, steps_per_epoch: int) -> int:
    """Epochs to add: between ``epochs`` and ``(FACTOR - 1) * epochs``, about EXTRA_STEPS steps;
    a short run gets enough to reach MIN_TOTAL_STEPS steps in all."""
    steps = max(steps_per_epoch, 1)
    by_steps = math.ceil(EXTRA_STEPS / steps)
    to_floor = math.ceil(MIN_TOTAL_STEPS / steps) - epochs
    return max(epochs, min((FACTOR - 1) * epochs, by_steps), min(to_floor, by_steps))


class MoreSteps(Probe):
    name: ProbeName = "more_steps"
    priority = 22
    needed_when_trained = True

    def applies(self, ctx: ProbeContext) -> bool:
        # more steps can only matter for a run that moved, was still falling when it stopped, and
        # ended far enough above a perfect fit for more steps to win a material share of chance
        return ctx.verdict.moved and ctx.verdict.falling and ctx.verdict.score > MIN_FURTHER_GAIN

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        t = ctx.spec.training
        steps = math.ceil(ctx.problem.n_train / min(t.batch_size, ctx.problem.n_train))
        extra = extra_epochs(t.epochs, steps)
        total = t.epochs + extra
        return [
            ProbeRun(
                name=f"epochs_{total}",
                family=self.name,
                changes={"training.epochs": total},
                model=ctx.spec.model,
                training=t.model_copy(update={"epochs": extra}),
                resume=True,
            )
        ]
