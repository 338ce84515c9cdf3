"""The monitor's hooks: gradient hooks on every trainable parameter, forward hooks after ReLUs.

``GradientWatch`` counts, per parameter, the backward passes that reached it since the last
``monitor.step`` (a post-accumulate hook, so it sees ``.grad`` after accumulation whatever the loop does
with ``zero_grad`` afterwards), and on a few small *sentinel* parameters whether each pass found the
gradient cleared (a pre-accumulate tensor hook, which runs before the new gradient is added: ``.grad``
is then None or zero after a ``zero_grad``, and still holds the previous step's sum without one). On
sampled intervals it also keeps each gradient's L2 norm (as a tensor, read once per step; a NaN or
infinite norm means a non-finite gradient).

``ReluWatch`` adds forward hooks to the ReLU modules only for sampled intervals and keeps, per module,
the share of units that output zero for the whole batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

#: Parameters whose pre-accumulate hook checks whether the gradient was cleared: the smallest ones, cheap.
SENTINELS = 3


class GradientWatch:
    """Per-parameter gradient counts and readings between two ``monitor.step`` calls."""

    def __init__(self, params: list[tuple[str, nn.Parameter]]) -> None:
        self.params = params
        self.counts = [0] * len(params)
        #: per sentinel index: backward passes seen, and how many of them found the gradient cleared
        self.passes: dict[int, list[int]] = {}
        self.sampling = False
        self.norms: list[torch.Tensor | None] = [None] * len(params)
        order = sorted(range(len(params)), key=lambda i: params[i][1].numel())
        self.sentinels = order[:SENTINELS]
        self.handles: list[RemovableHandle] = []
        for i, (_, p) in enumerate(params):
            self.handles.append(p.register_post_accumulate_grad_hook(self._after(i)))
        for i in self.sentinels:
            self.passes[i] = [0, 0]
            self.handles.append(params[i][1].register_hook(self._before(i)))

    def _after(self, i: int) -> Any:
        def hook(p: torch.Tensor) -> None:
            self.counts[i] += 1
            if self.sampling and p.grad is not None:
                self.norms[i] = torch.linalg.vector_norm(p.grad.detach())  # the last pass's: the accumulated sum

        return hook

    def _before(self, i: int) -> Any:
        param = self.params[i][1]

        def hook(grad: torch.Tensor) -> None:
            seen = self.passes[i]
            seen[0] += 1
            if param.grad is None or not bool(param.grad.any()):
                seen[1] += 1

        return hook

    def interval(self) -> tuple[int, int]:
        """(backward passes, of them found cleared) since the last reset, read on the busiest sentinel."""
        if not self.passes:
            return 0, 0
        passes, cleared = max(self.passes.values(), key=lambda v: v[0])
        return passes, cleared

    def reset(self, sampling: bool) -> None:
        """Start a new interval; ``sampling``: keep gradient norms during it."""
        self.counts = [0] * len(self.params)
        for seen in self.passes.values():
            seen[0] = seen[1] = 0
        self.sampling = sampling
        self.norms = [None] * len(self.params)

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []


class ReluWatch:
    """Dead-unit shares after each ReLU module, read by forward hooks on sampled intervals only."""

    def __init__(self, modules: list[tuple[str, nn.Module]]) -> None:
        self.modules = modules
        self.handles: list[RemovableHandle] = []
        #: name → (sum of dead shares, forward passes) in this interval
        self.dead: dict[str, list[float]] = {}

    def _hook(self, name: str) -> Any:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if not isinstance(output, torch.Tensor) or output.dim() < 2 or output.shape[0] < 2:
                return
            # output: (batch, units...) → a unit is dead when it is zero for every sample of the batch
            alive = (output.detach() > 0).flatten(1).any(dim=0)
            share = 1.0 - float(alive.float().mean())
            total = self.dead.setdefault(name, [0.0, 0.0])
            total[0] += share
            total[1] += 1

        return hook

    def arm(self) -> None:
        """Hook every ReLU for the coming interval (no-op when armed already)."""
        if not self.handles:
            self.handles = [m.register_forward_hook(self._hook(name)) for name, m in self.modules]
        self.dead = {}

    def take(self) -> dict[str, float]:
        """The mean dead share per module over the interval's forward passes; removes the hooks."""
        shares = {name: total / count for name, (total, count) in self.dead.items() if count}
        self.remove()
        return shares

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles = []
        self.dead = {}
