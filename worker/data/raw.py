"""The loaded data set as arrays, and the conversions every source shares.

``x`` is float32 ``[N, *sample_shape]``; ``y`` is int64 ``[N]`` when every label is a finite
integer, else float32 ``[N]`` or ``[N, k]``. Non-finite values are kept: data is used as given.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from worker.contract.errors import SpecError


@dataclass(frozen=True)
class RawData:
    """A whole data set before the train/validation split.

    ``x``: float32 ``[N, *sample_shape]``. ``y``: int64 ``[N]`` class indices or float32 targets.
    """

    x: np.ndarray
    y: np.ndarray

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """The shape of one sample of ``x`` (without the leading N)."""
        return tuple(int(d) for d in self.x.shape[1:])


def as_features(x: np.ndarray) -> np.ndarray:
    """``x`` as float32 ``[N, *sample_shape]``; a 1-D ``[N]`` becomes ``[N, 1]`` (one feature)."""
    with np.errstate(over="ignore"):  # a float64 beyond float32's range becomes inf, kept as given
        x = np.asarray(x, dtype=np.float32)
    return x.reshape(-1, 1) if x.ndim == 1 else x


def as_labels(y: np.ndarray) -> np.ndarray:
    """``y`` as int64 ``[N]`` when every value is finite and integral, else float32, shape kept."""
    y = np.asarray(y)
    if y.ndim == 1 and y.dtype.kind in "biu":
        return y.astype(np.int64)
    y = y.astype(np.float64)
    if y.ndim == 1 and y.size and np.isfinite(y).all() and (y == np.round(y)).all():
        # Integral floats (scikit-learn's diabetes target, "1.0" in a CSV) are labels like any other.
        return y.astype(np.int64)
    with np.errstate(over="ignore"):
        return y.astype(np.float32)


def reshape_samples(x: np.ndarray, shape: list[int] | None) -> np.ndarray:
    """Reshape each sample of ``x`` to ``shape`` (``data.shape``); ``None`` leaves ``x`` as it is."""
    if shape is None:
        return x
    per_sample = int(np.prod(x.shape[1:]))
    wanted = int(np.prod(shape))
    if per_sample != wanted:
        raise SpecError(
            ("data", "shape"),
            f"data.shape {list(shape)} holds {wanted} values but each sample has {per_sample} "
            f"(sample shape {list(x.shape[1:])}); the product of data.shape must be {per_sample}",
        )
    return x.reshape(x.shape[0], *shape)
