"""The seeded train/validation split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worker.contract.errors import SpecError
from worker.data.raw import RawData


@dataclass(frozen=True)
class Split:
    """Train and validation parts of a data set, arrays as in ``RawData``."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


def split_sizes(n_samples: int, validation_fraction: float) -> tuple[int, int]:
    """``(n_train, n_val)``: ``n_val`` is ``validation_fraction * n_samples`` rounded, at least 1 each."""
    if n_samples < 2:
        raise SpecError(
            ("data", "validation_fraction"),
            f"the data set has {n_samples} sample(s); a train/validation split needs at least 2",
        )
    n_val = min(max(round(n_samples * validation_fraction), 1), n_samples - 1)
    return n_samples - n_val, n_val


def split(raw: RawData, validation_fraction: float, seed: int) -> Split:
    """Split ``raw`` by a random permutation from ``numpy.random.default_rng(seed)``."""
    n_train, _ = split_sizes(int(raw.x.shape[0]), validation_fraction)
    order = np.random.default_rng(seed).permutation(raw.x.shape[0])
    train, val = order[:n_train], order[n_train:]
    return Split(x_train=raw.x[train], y_train=raw.y[train], x_val=raw.x[val], y_val=raw.y[val])
