"""``worker.diagnosis.monitor_rules`` by tables of step records: which telemetry is a finding and which is not."""

from __future__ import annotations

from typing import Any

import pytest

from worker.contract.telemetry import MonitorSetup, StepRecord
from worker.diagnosis.monitor_rules import diagnose_run

SETUP = MonitorSetup(
    optimizer="SGD",
    model_tensors=4,
    model_values=178,
    optimizer_tensors=4,
    optimizer_values=178,
    shared_tensors=4,
    lrs=[0.1],
)


def steps(n: int, **fields: Any) -> list[StepRecord]:
    """``n`` healthy steps, with ``fields`` on every step after the first."""
    base = {
        "backward_passes": 1,
        "cleared_passes": 1,
        "params_with_grad": 4,
        "sampled": True,
        "changed": 4,
        "lr": 0.1,
        "grad_norm": 1.0,
    }
    return [StepRecord(step=i, loss=2.0 / i, **{**base, **(fields if i > 1 else {})}) for i in range(1, n + 1)]


CASES: list[tuple[str, MonitorSetup, list[StepRecord], str | None]] = [
    ("healthy", SETUP, steps(10), None),
    ("accumulation over 4: one of 4 passes cleared", SETUP, steps(10, backward_passes=4, cleared_passes=1), None),
    ("two uncleared steps are not yet enough", SETUP, steps(3, cleared_passes=0), None),
    ("three uncleared steps are", SETUP, steps(4, cleared_passes=0), "training_loop_bug"),
    (
        "a loss given as a number, no gradients",
        SETUP,
        [StepRecord(step=i, loss=1.0, loss_graph="number", backward_passes=0) for i in (1, 2)],
        "training_loop_bug",
    ),
    ("one float step alone is not enough", SETUP, [StepRecord(step=1, loss=1.0, loss_graph="number")], None),
    ("a leaf loss on the first step", SETUP, [StepRecord(step=1, loss=1.0, loss_graph="leaf")], "training_loop_bug"),
    ("lr 0", SETUP.model_copy(update={"lrs": [0.0]}), steps(5, changed=0, lr=0.0), "lr_too_low"),
    ("step never applied", SETUP, steps(5, changed=0), "training_loop_bug"),
    ("one tensor never gets a gradient", SETUP, steps(5, without_grad=["head.bias"]), None),
    (
        "one tensor never gets a gradient, from step 1",
        SETUP,
        [s.model_copy(update={"without_grad": ["head.bias"]}) for s in steps(5)],
        "training_loop_bug",
    ),
    (
        "a tensor with gradients that never changes",
        SETUP,
        [s.model_copy(update={"unchanged": ["0.weight"]}) for s in steps(5)],
        "frozen_parameters",
    ),
    ("the loss goes non-finite after rising", SETUP, steps(5)[:3] + [StepRecord(step=4, loss=None)], "lr_too_high"),
    (
        "non-finite gradients with a finite loss",
        SETUP,
        steps(3) + [StepRecord(step=4, loss=1.0, grad_finite=False, params_with_grad=4)],
        "exploding_gradients",
    ),
    (
        "part of the model is not in the optimizer",
        SETUP.model_copy(update={"shared_tensors": 2, "not_in_optimizer": ["2.weight"]}),
        steps(3),
        "training_loop_bug",
    ),
]


@pytest.mark.parametrize(("setup", "records", "cause"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rules_by_table(setup: MonitorSetup, records: list[StepRecord], cause: str | None) -> None:
    diagnosis = diagnose_run(setup, records)
    assert diagnosis["primary_cause"] == cause, diagnosis["summary"]
    assert diagnosis["healthy"] is (cause is None)
    for finding in diagnosis["findings"]:
        assert finding["evidence"] and finding["fix"] and finding["confirmed"] is False
