"""Each pre-training check by table: a spec or data made to trip it, and one that must not; the detail
carries the numbers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from worker.contract.spec import JobSpec
from worker.engine.checks import CHECKS

RNG = np.random.default_rng(0)
#: Clean inputs: 40 samples, 4 standardized features.
X = RNG.normal(size=(40, 4)).astype(np.float32)
CLASSES = np.arange(40) % 3
MLP = [{"type": "linear", "out_features": 8}, {"type": "relu"}, {"type": "linear", "out_features": 3}]


def spec(layers: list[dict[str, Any]] | None = None, **training: Any) -> JobSpec:
    return JobSpec.model_validate(
        {
            "data": {"source": "builtin", "name": "iris"},
            "model": {"layers": layers if layers is not None else MLP},
            "training": {"loss": "cross_entropy", **training},
        }
    )


def with_value(x: np.ndarray, row: int, col: int, value: float) -> np.ndarray:
    x = x.copy()
    x[row, col] = value
    return x


def scaled(x: np.ndarray, col: int, factor: float, shift: float = 0.0) -> np.ndarray:
    x = x.copy()
    x[:, col] = x[:, col] * factor + shift
    return x


TABLE = [
    # (id, check, spec, x, y, flagged, words the detail must hold)
    (
        "non_finite_nan_input",
        "non_finite",
        spec(),
        with_value(X, 3, 1, np.nan),
        CLASSES,
        True,
        ["1 input values", "1 of 40"],
    ),
    (
        "non_finite_inf_label",
        "non_finite",
        spec(loss="mse"),
        X,
        np.where(np.arange(40) == 5, np.inf, 1.0),
        True,
        ["1 labels", "in 1 of 40"],
    ),
    ("non_finite_clean", "non_finite", spec(), X, CLASSES, False, ["finite"]),
    ("input_scale_large", "input_scale", spec(), scaled(X, 2, 10.0, 1000.0), CLASSES, True, ["feature 2"]),
    (
        "input_scale_spread",
        "input_scale",
        spec(),
        scaled(scaled(X, 0, 0.01), 1, 10.0),
        CLASSES,
        True,
        ["span a factor"],
    ),
    ("input_scale_standardized", "input_scale", spec(), X, CLASSES, False, ["moderate"]),
    (
        "label_range_bce_outside_0_1",
        "label_range",
        spec(loss="bce_with_logits"),
        X,
        CLASSES.astype(float),
        True,
        ["[0, 1]", "0 to 2"],
    ),
    (
        "label_range_classes_into_mse",
        "label_range",
        spec(loss="mse"),
        X,
        (np.arange(40) % 5).astype(float),
        True,
        ["5 integer labels"],
    ),
    ("label_range_real_targets_into_mse", "label_range", spec(loss="mse"), X, RNG.normal(size=40), False, ["fit"]),
    ("label_range_classes_into_cross_entropy", "label_range", spec(), X, CLASSES, False, ["fit"]),
    (
        "output_loss_softmax_before_cross_entropy",
        "output_loss",
        spec([*MLP, {"type": "softmax"}]),
        X,
        CLASSES,
        True,
        ["softmax", "cross_entropy"],
    ),
    ("output_loss_nll_without_log_softmax", "output_loss", spec(loss="nll"), X, CLASSES, True, ["log_softmax"]),
    (
        "output_loss_bce_without_sigmoid",
        "output_loss",
        spec(loss="bce"),
        X,
        (CLASSES > 0).astype(float),
        True,
        ["sigmoid"],
    ),
    (
        "output_loss_sigmoid_for_large_targets",
        "output_loss",
        spec([*MLP, {"type": "sigmoid"}], loss="mse"),
        X,
        np.linspace(0, 10, 40),
        True,
        ["[0, 1]", "targets lie outside"],
    ),
    ("output_loss_logits_into_cross_entropy", "output_loss", spec(), X, CLASSES, False, ["fits cross_entropy"]),
    (
        "output_loss_sigmoid_for_targets_inside",
        "output_loss",
        spec([*MLP, {"type": "sigmoid"}], loss="mse"),
        X,
        np.linspace(0, 1, 40),
        False,
        ["fits mse"],
    ),
    ("frozen_lr_zero", "frozen", spec(lr=0.0), X, CLASSES, True, ["learning rate is 0"]),
    (
        "frozen_one_layer",
        "frozen",
        spec([{**MLP[0], "frozen": True}, *MLP[1:]]),
        X,
        CLASSES,
        True,
        ["1 of 2", "0.linear"],
    ),
    (
        "frozen_every_layer",
        "frozen",
        spec([{**MLP[0], "frozen": True}, MLP[1], {**MLP[2], "frozen": True}]),
        X,
        CLASSES,
        True,
        ["all 2"],
    ),
    ("frozen_none", "frozen", spec(), X, CLASSES, False, ["trains"]),
]


@pytest.mark.parametrize("case", TABLE, ids=[c[0] for c in TABLE])
def test_check_by_table(case: tuple[Any, ...]) -> None:
    _, name, job, x, y, flagged, words = case
    result = CHECKS[name](job, x, y)
    assert result.name == name
    assert result.flagged is flagged, result.detail
    for word in words:
        assert word in result.detail, (word, result.detail)


def test_every_check_has_a_case_that_trips_it_and_one_that_must_not() -> None:
    assert {(c[1], c[5]) for c in TABLE} == {(name, f) for name in CHECKS for f in (True, False)}


def test_the_numbers_behind_a_flag() -> None:
    nan_rows = with_value(with_value(X, 0, 0, np.nan), 0, 1, np.inf)
    n = CHECKS["non_finite"](spec(), nan_rows, CLASSES).numbers
    assert (n["x_values"], n["rows"], n["rows_share"]) == (2, 1, 1 / 40)
    s = CHECKS["input_scale"](spec(), scaled(X, 2, 10.0, 1000.0), CLASSES).numbers
    assert s["largest_feature"] == 2 and s["max_magnitude"] > 1000
    f = CHECKS["frozen"](spec([{**MLP[0], "frozen": True}, *MLP[1:]]), X, CLASSES).numbers
    assert f["frozen_layers"] == [0] and f["param_layers"] == [0, 2]
