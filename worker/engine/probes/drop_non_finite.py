"""Rows with a NaN or infinite input or label left out of training and validation."""

from __future__ import annotations

import torch

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeRun
from worker.engine.train.problem import Problem


def _finite_rows(x: torch.Tensor, y: torch.Tensor, class_index: bool) -> torch.Tensor:
    ok = torch.isfinite(x.flatten(1)).all(1)
    if class_index:
        return ok & (y >= 0)
    return ok & torch.isfinite(y.reshape(len(y), -1)).all(1)


def drop_rows(p: Problem) -> Problem:
    ci = p.n_classes is not None
    keep_t = _finite_rows(p.x_train, p.y_train, ci)
    keep_v = _finite_rows(p.x_val, p.y_val, ci)
    return p.with_data(p.x_train[keep_t], p.y_train[keep_t], p.x_val[keep_v], p.y_val[keep_v])


class DropNonFinite(Probe):
    name: ProbeName = "drop_non_finite"
    priority = 1

    def applies(self, ctx: ProbeContext) -> bool:
        check = ctx.checks.get("non_finite")
        return bool(check and check.flagged)

    def plan(self, ctx: ProbeContext) -> list[ProbeRun]:
        return [
            ProbeRun(
                name=self.name,
                family=self.name,
                changes={"data": "rows with NaN or infinite values dropped"},
                model=ctx.spec.model,
                training=ctx.spec.training,
                data=drop_rows,
            )
        ]
