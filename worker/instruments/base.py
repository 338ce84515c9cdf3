"""The instrument protocol the training loop drives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass(frozen=True)
class LayerRef:
    """A module of the model by its result name (``"0.linear"``) and its parameters."""

    name: str
    module: torch.nn.Module
    params: tuple[torch.nn.Parameter, ...]


class Instrument:
    """Hooks called by the loop; each records tensors on the device and converts once per epoch.

    ``steps`` holds per-step series (one value a step), ``layers`` per-layer per-epoch series.
    """

    name: str = ""

    def __init__(self, model: torch.nn.Sequential, layers: list[LayerRef]) -> None:
        self.model = model
        self.layers = layers
        self.steps: dict[str, list[float | None]] = {}
        self.per_layer: dict[str, dict[str, list[float | None]]] = {ref.name: {} for ref in layers}

    def before_step(self) -> None:
        """After backward, before the optimizer step: gradients are available."""

    def after_step(self) -> None:
        """After the optimizer step."""

    def end_epoch(self, probe_x: torch.Tensor) -> None:
        """After each epoch (and once before training) with a fixed batch of training inputs."""

    def summary(self) -> dict[str, Any]:
        """Scalars for the diagnosis, e.g. values at the first step."""
        return {}


def as_floats(t: torch.Tensor) -> list[float | None]:
    """A 1-D tensor as a list of floats with non-finite values as None (JSON null)."""
    return [v if v == v and abs(v) != float("inf") else None for v in t.double().cpu().tolist()]
