"""The training problem as tensors on one device: inputs, targets shaped for the loss, chance level."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from worker.spec import CLASS_INDEX_LOSSES
from worker.train.losses import chance_loss


@dataclass(frozen=True)
class Problem:
    """Train and validation tensors for one loss.

    x_*: [N, *sample_shape] float32. y_*: [N] int64 class indices for cross_entropy/nll,
    else [N, k] float32 shaped like the model's output.
    """

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    loss: str
    chance: float
    val_chance: float
    n_classes: int | None

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def with_data(self, x_train: torch.Tensor, y_train: torch.Tensor,
                  x_val: torch.Tensor | None = None, y_val: torch.Tensor | None = None) -> Problem:
        """The same problem on other data, chance recomputed."""
        x_val = self.x_val if x_val is None else x_val
        y_val = self.y_val if y_val is None else y_val
        return replace(self, x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
                       chance=_finite_chance(self.loss, y_train), val_chance=_finite_chance(self.loss, y_val))


def _targets(y: np.ndarray, loss: str, out_dim: int) -> torch.Tensor:
    if loss in CLASS_INDEX_LOSSES:
        # NaN labels cannot index a class: -100 is PyTorch's ignore_index, so the loss of such a
        # batch comes out NaN (mean over no targets) and the run shows it instead of crashing.
        yy = np.where(np.isfinite(y), y, -100).astype(np.int64)
        return torch.from_numpy(yy.reshape(-1))
    yy = y.astype(np.float32)
    if yy.ndim == 1:
        yy = yy.reshape(-1, 1) if out_dim == 1 else yy
    return torch.from_numpy(yy)


def _finite_chance(loss: str, y: torch.Tensor) -> float:
    if loss in CLASS_INDEX_LOSSES:
        y = y[y >= 0]
    else:
        y = y[torch.isfinite(y).all(dim=tuple(range(1, y.dim())))] if y.dim() > 1 else y[torch.isfinite(y)]
    return chance_loss(loss, y)


def make_problem(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                 loss: str, out_dim: int, device: torch.device) -> Problem:
    """Tensors for training on ``device``; ``out_dim`` is the model's per-sample output size."""
    yt, yv = _targets(y_train, loss, out_dim), _targets(y_val, loss, out_dim)
    n_classes = out_dim if loss in CLASS_INDEX_LOSSES else None
    return Problem(
        x_train=torch.from_numpy(np.ascontiguousarray(x_train, dtype=np.float32)).to(device),
        y_train=yt.to(device),
        x_val=torch.from_numpy(np.ascontiguousarray(x_val, dtype=np.float32)).to(device),
        y_val=yv.to(device),
        loss=loss,
        chance=_finite_chance(loss, yt),
        val_chance=_finite_chance(loss, yv),
        n_classes=n_classes,
    )
