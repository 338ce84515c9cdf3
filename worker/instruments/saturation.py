"""Saturated sigmoid/tanh units: the share of outputs within 1% of the activation's bounds."""

from __future__ import annotations

from typing import Any

import torch

from worker.instruments.base import Instrument, LayerRef, as_floats


class Saturation(Instrument):
    name = "saturation"

    def __init__(self, model: torch.nn.Sequential, layers: list[LayerRef]) -> None:
        super().__init__(model, layers)
        self.acts = [(f"{i}.{'sigmoid' if isinstance(m, torch.nn.Sigmoid) else 'tanh'}", m)
                     for i, m in enumerate(model) if isinstance(m, torch.nn.Sigmoid | torch.nn.Tanh)]
        self.series: dict[str, list[float | None]] = {name: [] for name, _ in self.acts}

    def end_epoch(self, probe_x: torch.Tensor) -> None:
        if not self.acts:
            return
        outs: dict[str, torch.Tensor] = {}
        hooks = [m.register_forward_hook(lambda _m, _i, o, n=name: outs.__setitem__(n, o))
                 for name, m in self.acts]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                self.model(probe_x)
        finally:
            for h in hooks:
                h.remove()
            self.model.train(was_training)
        for name, m in self.acts:
            o = outs[name]
            near = (o - 0.5).abs() > 0.49 if isinstance(m, torch.nn.Sigmoid) else o.abs() > 0.99
            self.series[name].extend(as_floats(near.float().mean().reshape(1)))

    def summary(self) -> dict[str, Any]:
        return {"saturation": self.series}
