"""The monitor's first reading: the model's trainable parameters against the optimizer's (``MonitorSetup``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from worker.contract.telemetry import MAX_NAMES

#: Activations whose units can die (output zero for every input); their outputs get forward hooks.
RELU_TYPES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6)


def trainable(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The model's parameters that require grad, by name, each tensor once (shared ones are listed once)."""
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every tensor in the optimizer's parameter groups, each once."""
    seen: dict[int, torch.Tensor] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            seen.setdefault(id(p), p)
    return list(seen.values())


def read_setup(model: nn.Module, optimizer: torch.optim.Optimizer, *, every: int, warmup: int) -> dict[str, Any]:
    """``MonitorSetup`` fields: which trainable model tensors the optimizer holds (the same objects), which
    it lacks, which of its own are foreign, and whether the foreign ones look like a copy of the model."""
    params = trainable(model)
    held = optimizer_tensors(optimizer)
    held_ids = {id(p) for p in held}
    every_model_id = {id(p) for p in model.parameters()}  # frozen ones too: an optimizer may hold them harmlessly
    foreign = [p for p in held if id(p) not in every_model_id]
    shapes = sorted(tuple(p.shape) for _, p in params)
    return {
        "optimizer": type(optimizer).__name__,
        "model_tensors": len(params),
        "model_values": sum(p.numel() for _, p in params),
        "frozen_tensors": sum(1 for p in model.parameters() if not p.requires_grad),
        "optimizer_tensors": len(held),
        "optimizer_values": sum(p.numel() for p in held),
        "shared_tensors": sum(1 for _, p in params if id(p) in held_ids),
        "foreign_tensors": len(foreign),
        "foreign_match_model": bool(foreign) and sorted(tuple(p.shape) for p in foreign) == shapes,
        "not_in_optimizer": [name for name, p in params if id(p) not in held_ids][:MAX_NAMES],
        "lrs": [float(g.get("lr", 0.0)) for g in optimizer.param_groups],
        "relu_layers": [name for name, m in model.named_modules() if isinstance(m, RELU_TYPES)],
        "every": every,
        "warmup": warmup,
    }
