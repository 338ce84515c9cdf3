"""Curves from elsewhere: symptoms only, judged against chance."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from worker.curves import CurvesRequest, diagnose_curves

TABLE = [
    ([2.3, 2.3, 2.29, 2.3], "lr_too_low", False),
    ([2.3, 40.0, None], "lr_too_high", False),
    ([2.3, 1.5, 1.1, 0.8, 0.6], "too_few_steps", False),
    ([2.3, 0.5, 0.1, 0.05, 0.045, 0.044], None, True),
]


@pytest.mark.parametrize("train,cause,healthy", TABLE)
def test_curves_table(train: list[float | None], cause: str | None, healthy: bool) -> None:
    d = diagnose_curves(CurvesRequest(train_loss=train, n_classes=10))["diagnosis"]
    assert d["primary_cause"] == cause and d["healthy"] is healthy
    assert all(not f["confirmed"] for f in d["findings"])


def test_curves_need_a_chance_level() -> None:
    with pytest.raises(ValidationError, match="chance_loss"):
        CurvesRequest(train_loss=[1.0, 0.5])
