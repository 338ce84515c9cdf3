"""Gradient L2 norms: the global norm every step, and each layer's norm averaged per epoch."""

from __future__ import annotations

from typing import Any

import torch

from worker.instruments.base import Instrument, LayerRef, as_floats


class GradNorm(Instrument):
    name = "grad_norm"

    def __init__(self, model: torch.nn.Sequential, layers: list[LayerRef]) -> None:
        super().__init__(model, layers)
        self._step: list[torch.Tensor] = []      # each [n_layers]
        self._epoch_start = 0
        self.first_step: list[float | None] = []
        self.first_weight: list[float | None] = []

    def before_step(self) -> None:
        if not self._step and not self.first_weight:
            with torch.no_grad():
                self.first_weight = [float(torch.linalg.vector_norm(ref.params[0])) for ref in self.layers]
        norms = []
        for ref in self.layers:
            grads = [p.grad for p in ref.params if p.grad is not None]
            if grads:
                norms.append(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
            else:
                norms.append(torch.zeros((), device=ref.params[0].device))
        self._step.append(torch.stack(norms) if norms else torch.zeros(0))

    def end_epoch(self, probe_x: torch.Tensor) -> None:
        new = self._step[self._epoch_start:]
        self._epoch_start = len(self._step)
        if not new:
            return
        block = torch.stack(new)                       # [steps, n_layers]
        self.steps.setdefault("grad_norm", []).extend(as_floats(block.pow(2).sum(1).sqrt()))
        if not self.first_step:
            self.first_step = as_floats(block[0])
        for j, v in enumerate(as_floats(block.mean(0))):
            self.per_layer[self.layers[j].name].setdefault("grad_norm", []).append(v)
        self._step = []
        self._epoch_start = 0

    def summary(self) -> dict[str, Any]:
        return {"first_step_layer_grad_norm": self.first_step, "first_step_layer_weight_norm": self.first_weight}
