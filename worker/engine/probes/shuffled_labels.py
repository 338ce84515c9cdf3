"""The same run with the training labels randomly permuted: what training achieves without signal."""

from __future__ import annotations

import torch

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun
from worker.engine.train.problem import Problem

#: Seed of the label permutation (fixed, so a job is reproducible).
PERMUTATION_SEED = 12345


def shuffle_labels(p: Problem) -> Problem:
    gen = torch.Generator().manual_seed(PERMUTATION_SEED)
    perm = torch.randperm(p.n_train, generator=gen).to(p.y_train.device)
    return p.with_data(p.x_train, p.y_train[perm])


class ShuffledLabels(Probe):
    name: ProbeName = "shuffled_labels"
    priority = 12
    phase = 1

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        return [
            ProbeRun(
                name=self.name,
                family=self.name,
                changes={"data.y": "training labels randomly permuted"},
                model=ctx.spec.model,
                training=ctx.spec.training,
                data=shuffle_labels,
            )
        ]
