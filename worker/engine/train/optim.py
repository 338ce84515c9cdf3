"""Optimizers by contract name."""

from __future__ import annotations

from collections.abc import Iterable

import torch

from worker.contract.spec import TrainingSpec


def make_optimizer(params: Iterable[torch.nn.Parameter], t: TrainingSpec) -> torch.optim.Optimizer | None:
    """The optimizer the spec names over ``params``; None when nothing can train."""
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        return None
    if t.optimizer == "sgd":
        return torch.optim.SGD(trainable, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    if t.optimizer == "adam":
        return torch.optim.Adam(trainable, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(trainable, lr=t.lr, weight_decay=t.weight_decay)
    if t.optimizer == "rmsprop":
        return torch.optim.RMSprop(trainable, lr=t.lr, momentum=t.momentum, weight_decay=t.weight_decay)
    return torch.optim.Adagrad(trainable, lr=t.lr, weight_decay=t.weight_decay)
