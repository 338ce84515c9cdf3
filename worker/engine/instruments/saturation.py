"""Saturated sigmoid/tanh units: the share of outputs within 1% of the activation's bounds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from worker.contract.vocabulary import InstrumentName
from worker.engine.instruments.base import Instrument, as_floats

SATURATING = ("sigmoid", "tanh")


class Saturation(Instrument):
    name: InstrumentName = "saturation"

    def __init__(self, layers: list[str], kinds: Mapping[int, str]) -> None:
        super().__init__(layers, kinds)
        self.series: dict[str, list[float | None]] = {f"{i}.{k}": [] for i, k in kinds.items() if k in SATURATING}

    def end_epoch(self, acts: dict[int, torch.Tensor]) -> None:
        for i, kind in self.kinds.items():
            if kind in SATURATING and i in acts:
                o = acts[i]
                near = (o - 0.5).abs() > 0.49 if kind == "sigmoid" else o.abs() > 0.99
                self.series[f"{i}.{kind}"].extend(as_floats(near.float().mean().reshape(1)))

    def summary(self) -> dict[str, Any]:
        return {self.name: self.series}
