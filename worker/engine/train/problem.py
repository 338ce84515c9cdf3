"""The training problem as tensors on one device: inputs, targets shaped for the loss, chance level."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from worker.contract.spec import CLASS_INDEX_LOSSES
from worker.engine.train.losses import bce_each, chance_loss


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
    #: One output unit and 0/1 labels under bce or bce_with_logits: a two-class task.
    binary: bool = False

    @property
    def accuracy_kind(self) -> str | None:
        """How a prediction is scored right or wrong: ``argmax`` over classes, a ``logit`` or a
        ``prob`` against 0/1 labels; None for regression."""
        if self.n_classes is not None:
            return "argmax"
        if self.binary:
            return "logit" if self.loss == "bce_with_logits" else "prob"
        return None

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def with_data(
        self,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        x_val: torch.Tensor | None = None,
        y_val: torch.Tensor | None = None,
    ) -> Problem:
        """The same problem on other data, chance recomputed."""
        x_val = self.x_val if x_val is None else x_val
        y_val = self.y_val if y_val is None else y_val
        return replace(
            self,
            x_train=x_train,
            y_train=y_train,
            x_val=x_val,
            y_val=y_val,
            chance=_finite_chance(self.loss, y_train),
            val_chance=_finite_chance(self.loss, y_val),
        )


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


def hits(out: torch.Tensor, y: torch.Tensor, kind: str) -> torch.Tensor:
    """Which predictions are right, one bool per sample: ``out`` [..., C] against class indices
    ``y`` [...] (``argmax``), or ``out`` [..., 1] against 0/1 labels ``y`` [..., 1]."""
    if kind == "argmax":
        return out.argmax(-1) == y
    threshold = 0.0 if kind == "logit" else 0.5
    return ((out > threshold) == (y > 0.5)).all(-1)


def per_sample_loss(loss: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each sample's loss for classification losses: [N] from ``out`` [N, ...] (NaN where non-finite)."""
    if loss in CLASS_INDEX_LOSSES:
        fn = torch.nn.functional.cross_entropy if loss == "cross_entropy" else torch.nn.functional.nll_loss
        return fn(out, y, reduction="none")
    if loss == "bce_with_logits":
        each = torch.nn.functional.binary_cross_entropy_with_logits(out, y, reduction="none")
    else:
        each = bce_each(out, y)
    return each.reshape(each.shape[0], -1).mean(1)


def _is_binary(loss: str, out_dim: int, y: np.ndarray) -> bool:
    if loss not in ("bce", "bce_with_logits") or out_dim != 1 or y.size == 0:
        return False
    finite = y[np.isfinite(y)]
    return finite.size > 0 and bool(np.isin(finite, (0.0, 1.0)).all())


def make_problem(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    loss: str,
    out_dim: int,
    device: torch.device,
) -> Problem:
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
        binary=_is_binary(loss, out_dim, np.asarray(y_train, dtype=np.float64)),
    )
