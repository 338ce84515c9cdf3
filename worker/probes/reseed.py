"""The same run with other seeds: is the outcome the spec's, or one seed's luck?"""

from __future__ import annotations

from worker.probes.base import Probe, ProbeContext, ProbeRun

#: Seed offsets tried beside the spec's seed.
OFFSETS = (1, 2)


class Reseed(Probe):
    name = "reseed"
    priority = 45
    phase = 1

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        t = ctx.spec.training
        return [ProbeRun(name=f"seed_{t.seed + k}", family=self.name, changes={"training.seed": t.seed + k},
                         model=ctx.spec.model, training=t.model_copy(update={"seed": t.seed + k}))
                for k in OFFSETS]
