"""Inputs standardized per feature with the training split's mean and std (non-finite values kept)."""

from __future__ import annotations

import torch

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun
from worker.engine.train.problem import Problem


def standardize(p: Problem) -> Problem:
    """x -> (x - mean) / std per input element, statistics over finite training values."""
    x = p.x_train
    finite = torch.isfinite(x)
    count = finite.sum(0).clamp(min=1)
    xz = torch.where(finite, x, torch.zeros_like(x))
    mean = xz.sum(0) / count  # [*sample_shape]
    var = (torch.where(finite, x - mean, torch.zeros_like(x)) ** 2).sum(0) / count
    std = var.sqrt()
    std = torch.where(std > 1e-8, std, torch.ones_like(std))  # constant features stay put
    return p.with_data((x - mean) / std, p.y_train, (p.x_val - mean) / std, p.y_val)


class StandardizeInputs(Probe):
    name: ProbeName = "standardize_inputs"
    priority = 15
    phase = 1

    def applies(self, ctx: ProbeContext) -> bool:
        program = ctx.spec.model.program
        return not (program is not None and program.integer_input)  # token ids are categories, not scales

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        return [
            ProbeRun(
                name=self.name,
                family=self.name,
                changes={"data": "standardized per feature (train mean and std)"},
                model=ctx.spec.model,
                training=ctx.spec.training,
                data=standardize,
            )
        ]
