"""Dead ReLU units: the share of a ReLU's outputs that are zero for every input of a fixed batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from worker.contract.vocabulary import InstrumentName
from worker.engine.instruments.base import Instrument, as_floats


class DeadUnits(Instrument):
    """Measured at init and after every epoch, in eval mode, on the loop's fixed probe batch.

    Results are keyed by the ReLU's own name (``"1.relu"``), so they join the layer list.
    """

    name: InstrumentName = "dead_fraction"

    def __init__(self, layers: list[str], kinds: Mapping[int, str]) -> None:
        super().__init__(layers, kinds)
        self.series: dict[str, list[float | None]] = {f"{i}.relu": [] for i, k in kinds.items() if k == "relu"}

    def end_epoch(self, acts: dict[int, torch.Tensor]) -> None:
        for i, kind in self.kinds.items():
            if kind == "relu" and i in acts:
                o = acts[i].flatten(1)  # [batch, units]
                self.series[f"{i}.relu"].extend(as_floats((o <= 0).all(dim=0).float().mean().reshape(1)))

    def summary(self) -> dict[str, Any]:
        return {self.name: self.series}
