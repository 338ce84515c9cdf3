"""The contract's optimizers over stacked parameters, with hyper-parameters per member.

Each follows PyTorch's own single-tensor update (``torch.optim``'s defaults for what the spec
does not set: Adam/AdamW betas (0.9, 0.999) and eps 1e-8, RMSprop alpha 0.99 and eps 1e-8,
Adagrad eps 1e-10), applied to ``[G, ...]`` tensors with ``lr``, ``weight_decay`` and
``momentum`` as ``[G]`` tensors, all leaves at once with ``torch._foreach_*`` (one kernel call
per operation, not one per tensor). A member with momentum 0 or weight decay 0 gets exactly the
update it would get without them, so members with different settings share one step.
"""

from __future__ import annotations

import torch

BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
RMSPROP_ALPHA = 0.99
RMSPROP_EPS = 1e-8
ADAGRAD_EPS = 1e-10

Tensors = list[torch.Tensor]


def _views(v: torch.Tensor, leaves: Tensors) -> Tensors:
    """A [G] tensor shaped to broadcast over each [G, ...] leaf."""
    return [v.reshape(-1, *([1] * (p.dim() - 1))) for p in leaves]


class StackedOptimizer:
    """One optimizer kind over the stack's trainable leaves.

    ``state`` holds named buffers, one [G, ...] tensor per leaf, so a subset of members can be
    taken with ``select``.
    """

    def __init__(
        self, kind: str, leaves: Tensors, lr: torch.Tensor, weight_decay: torch.Tensor, momentum: torch.Tensor
    ) -> None:
        self.kind = kind
        self.leaves = [p for p in leaves if p.requires_grad]
        self.lr, self.weight_decay, self.momentum = lr, weight_decay, momentum
        self._lr, self._wd, self._mom = (_views(v, self.leaves) for v in (lr, weight_decay, momentum))
        self._decays = bool((weight_decay != 0).any())
        # one lr for every member (always so for a stack of one): the update takes it as a number
        self._one_lr = float(lr[0]) if len(lr) and bool((lr == lr[0]).all()) else None
        self.steps = 0
        self.state: dict[str, Tensors] = {}

    def zero_grad(self) -> None:
        for p in self.leaves:
            p.grad = None

    def _buffer(self, name: str, first: Tensors | None = None) -> Tensors:
        if name not in self.state:
            self.state[name] = (
                [f.clone() for f in first] if first is not None else [torch.zeros_like(p) for p in self.leaves]
            )
        return self.state[name]

    def _l2(self, ps: Tensors, gs: Tensors) -> Tensors:
        """grad + weight_decay * p (the coupled decay of SGD, Adam, RMSprop and Adagrad)."""
        return list(torch._foreach_add(gs, torch._foreach_mul(ps, self._wd))) if self._decays else gs

    @torch.no_grad()
    def step(self) -> None:
        if not self.leaves or any(p.grad is None for p in self.leaves):
            return
        self.steps += 1
        ps, gs = self.leaves, [p.grad for p in self.leaves if p.grad is not None]
        getattr(self, f"_{self.kind}")(ps, gs)

    def _sgd(self, ps: Tensors, gs: Tensors) -> None:
        d = self._l2(ps, gs)
        if "buf" not in self.state:
            buf = self._buffer("buf", d)  # torch starts the momentum buffer as the first direction
        else:
            buf = self.state["buf"]
            torch._foreach_mul_(buf, self._mom)
            torch._foreach_add_(buf, d)
        if self._one_lr is not None:
            torch._foreach_add_(ps, buf, alpha=-self._one_lr)
            return
        torch._foreach_sub_(ps, torch._foreach_mul(buf, self._lr))

    def _adam(self, ps: Tensors, gs: Tensors, decoupled: bool = False) -> None:
        if decoupled:
            if self._decays:
                torch._foreach_mul_(ps, [1 - lr * wd for lr, wd in zip(self._lr, self._wd, strict=True)])
        else:
            gs = self._l2(ps, gs)
        m, v = self._buffer("exp_avg"), self._buffer("exp_avg_sq")
        torch._foreach_lerp_(m, gs, 1 - BETAS[0])
        torch._foreach_mul_(v, BETAS[1])
        torch._foreach_addcmul_(v, gs, gs, value=1 - BETAS[1])
        bc1 = 1 - BETAS[0] ** self.steps
        bc2_sqrt = (1 - BETAS[1] ** self.steps) ** 0.5
        denom = torch._foreach_sqrt(v)
        torch._foreach_div_(denom, bc2_sqrt)
        torch._foreach_add_(denom, ADAM_EPS)
        if self._one_lr is not None:
            torch._foreach_addcdiv_(ps, m, denom, value=-self._one_lr / bc1)  # as torch.optim.Adam
            return
        update = torch._foreach_div(m, denom)
        torch._foreach_mul_(update, [lr / bc1 for lr in self._lr])
        torch._foreach_sub_(ps, update)

    def _adam_w(self, ps: Tensors, gs: Tensors) -> None:
        self._adam(ps, gs, decoupled=True)

    def _rmsprop(self, ps: Tensors, gs: Tensors) -> None:
        gs = self._l2(ps, gs)
        sq = self._buffer("square_avg")
        torch._foreach_mul_(sq, RMSPROP_ALPHA)
        torch._foreach_addcmul_(sq, gs, gs, value=1 - RMSPROP_ALPHA)
        avg = torch._foreach_sqrt(sq)
        torch._foreach_add_(avg, RMSPROP_EPS)
        # torch keeps a zero-started buffer when momentum > 0; with momentum 0 it is the step itself
        buf = self._buffer("buf")
        torch._foreach_mul_(buf, self._mom)
        torch._foreach_add_(buf, torch._foreach_div(gs, avg))
        torch._foreach_sub_(ps, torch._foreach_mul(buf, self._lr))

    def _adagrad(self, ps: Tensors, gs: Tensors) -> None:
        gs = self._l2(ps, gs)
        acc = self._buffer("sum")
        torch._foreach_addcmul_(acc, gs, gs, value=1)
        std = torch._foreach_sqrt(acc)
        torch._foreach_add_(std, ADAGRAD_EPS)
        update = torch._foreach_div(gs, std)
        torch._foreach_mul_(update, self._lr)
        torch._foreach_sub_(ps, update)

    def select(self, members: torch.Tensor, leaves: Tensors) -> StackedOptimizer:
        """The same optimizer for a stack of ``members`` only, over that stack's ``leaves``."""
        out = StackedOptimizer(self.kind, leaves, self.lr[members], self.weight_decay[members], self.momentum[members])
        out.steps = self.steps
        out.state = {k: [t[members].clone() for t in ts] for k, ts in self.state.items()}
        return out


#: Contract optimizer name -> the method above.
KINDS = {"sgd": "sgd", "adam": "adam", "adamw": "adam_w", "rmsprop": "rmsprop", "adagrad": "adagrad"}
