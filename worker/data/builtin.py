"""The data sets scikit-learn ships, as given: no scaling, no cleaning."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sklearn import datasets

from worker.contract.spec import BuiltinData
from worker.data.raw import RawData, as_features, as_labels

#: ``data.name`` -> the scikit-learn loader; every one returns ``(x, y)`` with ``return_X_y=True``.
LOADERS: dict[str, Callable[..., Any]] = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "digits": datasets.load_digits,
    "breast_cancer": datasets.load_breast_cancer,
    "diabetes": datasets.load_diabetes,
}


def load_builtin(data: BuiltinData) -> RawData:
    """Load a built-in data set: x float32 ``[N, F]`` (digits: ``[1797, 64]``, pixel values 0..16)."""
    x, y = LOADERS[data.name](return_X_y=True)
    return RawData(x=as_features(x), y=as_labels(y))
