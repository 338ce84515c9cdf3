"""Gradient L2 norms: the global norm every measured step, and each layer's norm averaged per epoch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from worker.contract.vocabulary import InstrumentName
from worker.engine.instruments.base import Instrument, StepView, as_floats


class GradNorm(Instrument):
    name: InstrumentName = "grad_norm"

    def __init__(self, layers: list[str], kinds: Mapping[int, str]) -> None:
        super().__init__(layers, kinds)
        self._step: list[torch.Tensor] = []  # each [n_layers]
        self.first_step: list[float | None] = []
        self.first_weight: list[float | None] = []

    def before_step(self, view: StepView) -> None:
        if not self.first_weight:
            with torch.no_grad():
                self.first_weight = [float(torch.linalg.vector_norm(ps[0])) for ps in view.params]
        norms = []
        for ps, gs in zip(view.params, view.grads, strict=True):
            present = [g for g in gs if g is not None]
            norms.append(
                torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in present]))
                if present
                else torch.zeros((), device=ps[0].device)
            )
        self._step.append(torch.stack(norms))

    def end_epoch(self, acts: dict[int, torch.Tensor]) -> None:
        if not self._step:
            return
        block = torch.stack(self._step)  # [steps, n_layers]
        self._step = []
        self.steps.setdefault(self.name, []).extend(as_floats(block.pow(2).sum(1).sqrt()))
        if not self.first_step:
            self.first_step = as_floats(block[0])
        for j, v in enumerate(as_floats(block.mean(0))):
            self.per_layer[self.layers[j]].setdefault(self.name, []).append(v)

    def summary(self) -> dict[str, Any]:
        return {"first_step_layer_grad_norm": self.first_step, "first_step_layer_weight_norm": self.first_weight}
