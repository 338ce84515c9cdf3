"""Update-to-weight ratio ||w_after - w_before|| / ||w_before|| per layer and measured step (weights only)."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from worker.contract.vocabulary import InstrumentName
from worker.engine.instruments.base import Instrument, StepView, as_floats


class UpdateRatio(Instrument):
    name: InstrumentName = "update_ratio"

    def __init__(self, layers: list[str], kinds: Mapping[int, str]) -> None:
        super().__init__(layers, kinds)
        self._before: list[torch.Tensor] = []
        self._step: list[torch.Tensor] = []  # each [n_layers]

    def before_step(self, view: StepView) -> None:
        self._before = [ps[0].detach().clone() for ps in view.params]

    def after_step(self, view: StepView) -> None:
        ratios = [
            torch.linalg.vector_norm(ps[0].detach() - w0) / torch.linalg.vector_norm(w0).clamp(min=1e-12)
            for ps, w0 in zip(view.params, self._before, strict=True)
        ]
        self._step.append(torch.stack(ratios))

    def end_epoch(self, acts: dict[int, torch.Tensor]) -> None:
        if not self._step:
            return
        block = torch.stack(self._step)  # [steps, n_layers]
        self._step = []
        # the step series is the largest layer ratio: the layer that moves most is the risk
        self.steps.setdefault(self.name, []).extend(as_floats(block.max(1).values))
        for j, v in enumerate(as_floats(block.mean(0))):
            self.per_layer[self.layers[j]].setdefault(self.name, []).append(v)
