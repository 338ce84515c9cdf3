"""Loss functions by contract name, and the chance level each is judged against.

Chance is the loss of the best constant prediction on the training labels: the class-prior
entropy for class-index losses, the binary entropy of the mean for BCE, the variance of y for MSE,
the mean absolute deviation from the median for L1 and Huber (nats or squared units of y).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def bce_each(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Elementwise binary cross-entropy, NaN where an input lies outside [0, 1].

    PyTorch's own function raises on such inputs; here raw outputs fed to "bce" become a NaN loss
    (a finding), while inputs in range get exactly PyTorch's values and safe gradients.
    """
    outside = (probs < 0) | (probs > 1) | torch.isnan(probs)
    each = F.binary_cross_entropy(probs.clamp(0.0, 1.0).nan_to_num(0.5), target, reduction="none")
    return torch.where(outside, torch.full_like(each, float("nan")), each)


def _bce(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return bce_each(probs, target).mean()


LOSSES: dict[str, LossFn] = {
    "cross_entropy": F.cross_entropy,
    "nll": F.nll_loss,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
    "bce": _bce,
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "huber": F.huber_loss,
}


def chance_loss(loss: str, y: torch.Tensor) -> float:
    """The loss of the best constant prediction for targets ``y`` (class indices [N] or values [N, k])."""
    if y.numel() == 0:
        return float("nan")
    if loss in ("cross_entropy", "nll"):
        counts = torch.bincount(y.long().clamp(min=0))
        p = counts[counts > 0].double() / y.numel()
        return float(-(p * p.log()).sum())
    yf = y.double()
    if loss in ("bce", "bce_with_logits"):
        m = yf.mean(dim=0).clamp(1e-12, 1 - 1e-12)
        return float((-(m * m.log() + (1 - m) * (1 - m).log())).mean())
    if loss == "mse":
        return float(yf.var(dim=0, unbiased=False).mean())
    med = yf.median(dim=0).values
    dev = (yf - med).abs()
    if loss == "huber":
        dev = torch.where(dev < 1.0, 0.5 * dev**2, dev - 0.5)
    return float(dev.mean())
