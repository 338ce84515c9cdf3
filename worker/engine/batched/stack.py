"""G models of one architecture as one: parameters stacked on a leading group dimension.

A stack runs the forward pass of every member at once (``bmm`` for linear layers, a grouped
convolution for conv layers), so probes that share an architecture train for about the price of
one. Each member is built by ``worker.engine.model.build_model`` from its own spec and seed, so at
step 0 member g is exactly the model it would be alone.

Shapes: inputs ``[G, B, *sample_shape]``; each layer maps ``[G, B, *in]`` to ``[G, B, *out]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from worker.contract.spec import ModelSpec
from worker.engine.model.build import build_sequential

#: Layer types a stack can run. Dropout draws random masks (a stack would draw other ones than a
#: member alone) and normalization layers keep running statistics, so models with them train alone.
STACKABLE = frozenset(
    {
        "linear",
        "conv2d",
        "maxpool2d",
        "avgpool2d",
        "flatten",
        "relu",
        "leaky_relu",
        "elu",
        "gelu",
        "tanh",
        "sigmoid",
        "softmax",
        "log_softmax",
    }
)


def signature(model: ModelSpec, sample_shape: tuple[int, ...]) -> tuple[object, ...] | None:
    """What two models must share to be stacked (types, sizes, hyper-parameters, frozen flags);
    None when the model cannot be stacked at all (an uploaded ONNX model always trains alone)."""
    if model.onnx is not None:
        return None
    if any(layer.type not in STACKABLE for layer in model.layers):
        return None
    return (tuple(sample_shape),) + tuple(
        tuple(sorted((k, v) for k, v in layer.model_dump().items() if k != "init")) for layer in model.layers
    )


class Stack:
    """The stacked parameters and the forward pass of G members.

    ``params[i]`` holds layer i's stacked tensors (weight first), each ``[G, *param_shape]``, as
    leaves that require grad unless the layer is frozen.
    """

    def __init__(self, members: Sequence[nn.Sequential], kinds: list[str]) -> None:
        self.template = members[0]
        self.kinds = kinds
        self.size = len(members)
        self.params: list[list[torch.Tensor]] = []
        for i, module in enumerate(self.template):
            tensors = []
            for name, p in module.named_parameters():
                stacked = torch.stack([dict(m[i].named_parameters())[name].detach() for m in members]).clone()
                tensors.append(stacked.requires_grad_(p.requires_grad))
            self.params.append(tensors)

    @classmethod
    def build(
        cls, models: Sequence[ModelSpec], seeds: Sequence[int], sample_shape: tuple[int, ...], device: torch.device
    ) -> Stack:
        built = [build_sequential(m, sample_shape, seed=s).to(device) for m, s in zip(models, seeds, strict=True)]
        return cls(built, [layer.type for layer in models[0].layers])

    def leaves(self) -> list[torch.Tensor]:
        """Every stacked parameter tensor, trainable or not."""
        return [p for layer in self.params for p in layer]

    def subset(self, members: Sequence[int]) -> Stack:
        """A stack of ``members`` only, with copies of their parameters."""
        leaves = self.leaves()
        idx = torch.tensor(list(members), device=leaves[0].device if leaves else None)
        sub = Stack.__new__(Stack)
        sub.template, sub.kinds, sub.size = self.template, self.kinds, len(idx)
        # indexing copies; the copies are leaves of their own
        sub.params = [[p.detach()[idx].requires_grad_(p.requires_grad) for p in layer] for layer in self.params]
        return sub

    def forward(
        self, x: torch.Tensor, params: list[list[torch.Tensor]] | None = None, capture: Sequence[int] = ()
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Outputs ``[G, B, *out]`` for inputs ``[G, B, *in]``, and the outputs of the layers in ``capture``."""
        params = self.params if params is None else params
        caught: dict[int, torch.Tensor] = {}
        h = x
        for i, (kind, module) in enumerate(zip(self.kinds, self.template, strict=True)):
            h = _layer(kind, module, params[i], h)
            if i in capture:
                caught[i] = h
        return h, caught


def _layer(kind: str, module: nn.Module, ps: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
    g, b = h.shape[:2]
    if kind == "linear":
        # [G, B, in] x [G, in, out] -> [G, B, out]
        w = ps[0].transpose(1, 2)
        return torch.baddbmm(ps[1].unsqueeze(1), h, w) if len(ps) > 1 else torch.bmm(h, w)
    if kind == "conv2d":
        assert isinstance(module, nn.Conv2d)
        c, hh, ww = h.shape[2:]
        # members as groups of one convolution: [B, G*C, H, W] with weights [G*out, C, k, k]
        y = F.conv2d(
            h.transpose(0, 1).reshape(b, g * c, hh, ww),
            ps[0].reshape(-1, *ps[0].shape[2:]),
            ps[1].reshape(-1) if len(ps) > 1 else None,
            module.stride,
            module.padding,
            groups=g,
        )
        return y.reshape(b, g, -1, *y.shape[2:]).transpose(0, 1)
    if kind in ("maxpool2d", "avgpool2d"):
        y = module(h.reshape(g * b, *h.shape[2:]))
        return y.reshape(g, b, *y.shape[1:])
    if kind == "flatten":
        return h.reshape(g, b, -1)
    if kind in ("softmax", "log_softmax"):
        # the module works on dim 1 of [B, C, ...]; here that is dim 2
        return F.softmax(h, dim=2) if kind == "softmax" else F.log_softmax(h, dim=2)
    return module(h)  # elementwise activations
