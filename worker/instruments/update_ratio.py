"""Update-to-weight ratio ||w_after - w_before|| / ||w_before|| per layer and step (weights only)."""

from __future__ import annotations

import torch

from worker.instruments.base import Instrument, LayerRef, as_floats


class UpdateRatio(Instrument):
    name = "update_ratio"

    def __init__(self, model: torch.nn.Sequential, layers: list[LayerRef]) -> None:
        super().__init__(model, layers)
        self._before: list[torch.Tensor] = []
        self._step: list[torch.Tensor] = []        # each [n_layers]

    def before_step(self) -> None:
        self._before = [ref.params[0].detach().clone() for ref in self.layers]

    def after_step(self) -> None:
        ratios = []
        for ref, w0 in zip(self.layers, self._before, strict=True):
            w1 = ref.params[0].detach()
            ratios.append(torch.linalg.vector_norm(w1 - w0) / torch.linalg.vector_norm(w0).clamp(min=1e-12))
        self._step.append(torch.stack(ratios) if ratios else torch.zeros(0))

    def end_epoch(self, probe_x: torch.Tensor) -> None:
        if not self._step:
            return
        block = torch.stack(self._step)                 # [steps, n_layers]
        self._step = []
        # the step series is the largest layer ratio: the layer that moves most is the risk
        self.steps.setdefault("update_ratio", []).extend(as_floats(block.max(1).values))
        for j, v in enumerate(as_floats(block.mean(0))):
            self.per_layer[self.layers[j].name].setdefault("update_ratio", []).append(v)
