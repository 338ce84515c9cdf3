"""The instrument protocol the training loops drive.

Instruments receive their inputs explicitly, so the same instrument measures a plain model and
one member of a stack of models trained together:

    before_step(view)   after backward, before the optimizer step (gradients available)
    after_step(view)    after the optimizer step
    end_epoch(acts)     after each epoch and once before training, with the outputs of the
                        activation layers on a fixed batch of training inputs
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class StepView:
    """One model's parameters at a step: per layer with parameters, its tensors, weight first."""

    params: Sequence[Sequence[torch.Tensor]]
    grads: Sequence[Sequence[torch.Tensor | None]]


class Instrument:
    """Hooks called by a loop; each records tensors on the device and converts once per epoch.

    ``layers`` are the result names of the layers with parameters (``"0.linear"``),
    ``kinds`` the type of every layer by index (``{1: "relu"}``). ``steps`` holds per-step
    series, ``per_layer`` per-layer per-epoch series.
    """

    name: str = ""

    def __init__(self, layers: list[str], kinds: Mapping[int, str]) -> None:
        self.layers = layers
        self.kinds = kinds
        self.steps: dict[str, list[float | None]] = {}
        self.per_layer: dict[str, dict[str, list[float | None]]] = {name: {} for name in layers}

    def before_step(self, view: StepView) -> None:
        """Gradients are available."""

    def after_step(self, view: StepView) -> None:
        """The optimizer has stepped."""

    def end_epoch(self, acts: dict[int, torch.Tensor]) -> None:
        """Activation outputs on the probe batch, by layer index: [batch, *shape]."""

    def summary(self) -> dict[str, Any]:
        """Scalars for the diagnosis, e.g. values at the first step."""
        return {}


def as_floats(t: torch.Tensor) -> list[float | None]:
    """A 1-D tensor as a list of floats with non-finite values as None (JSON null)."""
    return [v if v == v and abs(v) != float("inf") else None for v in t.double().cpu().tolist()]
