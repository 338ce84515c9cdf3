"""Gradient norm clipped to 1.0: bounds every step whatever the gradient does."""

from __future__ import annotations

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun

#: The clipping threshold (global L2 norm).
CLIP = 1.0


class GradClip(Probe):
    name: ProbeName = "grad_clip"
    priority = 35
    phase = 1

    def applies(self, ctx: ProbeContext) -> bool:
        return ctx.spec.training.grad_clip_norm is None

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        return [
            ProbeRun(
                name=self.name,
                family=self.name,
                changes={"training.grad_clip_norm": CLIP},
                model=ctx.spec.model,
                training=ctx.spec.training.model_copy(update={"grad_clip_norm": CLIP}),
            )
        ]
