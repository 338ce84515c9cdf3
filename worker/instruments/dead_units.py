"""Dead ReLU units: the share of a ReLU's outputs that are zero for every input of a fixed batch."""

from __future__ import annotations

from typing import Any

import torch

from worker.instruments.base import Instrument, LayerRef, as_floats


class DeadUnits(Instrument):
    """Measured at init and after every epoch, in eval mode, on the loop's fixed probe batch.

    Results are keyed by the ReLU's own name (``"1.relu"``), so they join the layer list.
    """

    name = "dead_fraction"

    def __init__(self, model: torch.nn.Sequential, layers: list[LayerRef]) -> None:
        super().__init__(model, layers)
        self.relus = [(f"{i}.relu", m) for i, m in enumerate(model) if isinstance(m, torch.nn.ReLU)]
        self.series: dict[str, list[float | None]] = {name: [] for name, _ in self.relus}

    def end_epoch(self, probe_x: torch.Tensor) -> None:
        if not self.relus:
            return
        outs: dict[str, torch.Tensor] = {}
        hooks = [m.register_forward_hook(lambda _m, _i, o, n=name: outs.__setitem__(n, o))
                 for name, m in self.relus]
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                self.model(probe_x)
        finally:
            for h in hooks:
                h.remove()
            self.model.train(was_training)
        for name, _ in self.relus:
            o = outs[name].flatten(1)                      # [batch, units]
            dead = (o <= 0).all(dim=0).float().mean()
            self.series[name].extend(as_floats(dead.reshape(1)))

    def summary(self) -> dict[str, Any]:
        return {"dead_fraction": self.series}
