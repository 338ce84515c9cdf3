"""The same run with other seeds: is the outcome the spec's, or one seed's luck?"""

from __future__ import annotations

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun
from worker.engine.probes.standard_init import DEFAULT_INIT

#: Seed offsets tried beside the spec's seed.
OFFSETS = (1, 2)


class Reseed(Probe):
    name: ProbeName = "reseed"
    priority = 45
    phase = 1

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        t = ctx.spec.training
        if ctx.spec.model.onnx is not None and ctx.spec.model.init is None:
            # exported weights do not depend on the seed (only the batch order and dropout would), so
            # another seed means another draw of the weights: each run is re-initialized
            model = ctx.spec.model.model_copy(update={"init": DEFAULT_INIT})
            return [
                ProbeRun(
                    name=f"seed_{t.seed + k}",
                    family=self.name,
                    changes={"training.seed": t.seed + k, "model.init": "default"},
                    model=model,
                    training=t.model_copy(update={"seed": t.seed + k}),
                )
                for k in OFFSETS
            ]
        return [
            ProbeRun(
                name=f"seed_{t.seed + k}",
                family=self.name,
                changes={"training.seed": t.seed + k},
                model=ctx.spec.model,
                training=t.model_copy(update={"seed": t.seed + k}),
            )
            for k in OFFSETS
        ]
