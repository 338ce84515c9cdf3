"""Curves from elsewhere: symptoms only, judged against chance."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from worker.diagnosis.curves import CurvesRequest, diagnose_curves

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


# ---- richer telemetry: per-layer gradient norms and the training-loop monitor's records -----------------

STALLED = [2.3, 2.3, 2.29, 2.3, 2.3]
SETUP = {
    "optimizer": "SGD",
    "model_tensors": 4,
    "model_values": 100,
    "optimizer_tensors": 4,
    "optimizer_values": 100,
    "shared_tensors": 4,
}


def layers(first: float, last: float, epochs: int = 5) -> list[dict[str, object]]:
    """Three layers, input side first, whose gradient norms stay at ``first``, 1e-3 and ``last``."""
    return [
        {"name": name, "grad_norm": [value] * epochs} for name, value in (("fc1", first), ("fc2", 1e-3), ("fc3", last))
    ]


def diagnose(**body: object) -> dict[str, object]:
    return diagnose_curves(CurvesRequest.model_validate({"n_classes": 10, **body}))["diagnosis"]


LAYER_TABLE = [
    # train loss, first-layer norm, last-layer norm, expected primary cause
    (STALLED, 1e-5, 1e-1, "vanishing_gradients"),  # ratio 1e-4 <= VANISH_RATIO
    (STALLED, 0.5, 1.0, "lr_too_low"),  # ratio 0.5: the gradients reach the input
    ([2.3, 40.0, 900.0, 9e4, 9e6], 500.0, 1.0, "lr_too_high"),  # diverged: the lr first, the explosion after
    ([2.3, 0.5, 0.1, 0.05, 0.045], 1e-5, 1e-1, None),  # it trained: small early gradients are no fault
]


@pytest.mark.parametrize("train,first,last,cause", LAYER_TABLE)
def test_layer_gradient_norms_table(train: list[float], first: float, last: float, cause: str | None) -> None:
    d = diagnose(train_loss=train, layers=layers(first, last, len(train)))
    assert d["primary_cause"] == cause
    assert all(not f["confirmed"] and f["basis"] == "symptoms" for f in d["findings"])


def test_vanishing_gradients_carry_the_ratio_and_its_threshold_is_the_rules() -> None:
    from worker.diagnosis.rules.vanishing_gradients import VANISH_RATIO

    d = diagnose(train_loss=STALLED, layers=layers(1e-5, 1e-1))
    finding = d["findings"][0]
    assert finding["evidence"] == ["at epoch 1 the gradient norm of fc1 was 0.0001x that of fc3"]
    assert [f["cause"] for f in d["findings"]] == ["vanishing_gradients", "lr_too_low"]
    just_above = diagnose(train_loss=STALLED, layers=layers(VANISH_RATIO * 1.01, 1.0))
    assert just_above["primary_cause"] == "lr_too_low"


def test_exploding_gradients_follow_a_divergence_with_a_large_ratio() -> None:
    d = diagnose(train_loss=[2.3, 40.0, 900.0, 9e4, 9e6], layers=layers(500.0, 1.0))
    assert [f["cause"] for f in d["findings"]] == ["lr_too_high", "exploding_gradients"]
    assert d["findings"][1]["evidence"] == ["at epoch 1 the gradient norm of fc1 was 500x that of fc3"]


def test_a_monitor_invariant_violation_is_a_training_loop_bug_even_when_the_curves_look_healthy() -> None:
    steps = [
        {
            "step": s,
            "backward_passes": 1,
            "cleared_passes": 0 if s > 1 else 1,
            "params_with_grad": 4,
            "optimizer_steps": 1,
        }
        for s in range(1, 6)
    ]
    d = diagnose(train_loss=[2.3, 0.5, 0.1, 0.05, 0.045], monitor={"setup": SETUP, "steps": steps})
    assert d["healthy"] is False and d["primary_cause"] == "training_loop_bug"
    assert d["verdict_basis"] == "monitor"
    assert "none found them cleared" in d["findings"][0]["evidence"][0]
    assert "zero_grad" in d["summary"]


def test_a_clean_monitor_leaves_the_curves_verdict_alone() -> None:
    steps = [
        {"step": s, "backward_passes": 1, "cleared_passes": 1, "params_with_grad": 4, "optimizer_steps": 1}
        for s in range(1, 6)
    ]
    healthy = diagnose(train_loss=[2.3, 0.5, 0.1, 0.05, 0.045], monitor={"setup": SETUP, "steps": steps})
    assert healthy["healthy"] is True and healthy["findings"] == []
    stalled = diagnose(train_loss=STALLED, monitor={"setup": SETUP, "steps": steps})
    assert stalled["primary_cause"] == "lr_too_low" and stalled["verdict_basis"] == "symptoms"


@pytest.mark.parametrize(
    "body,message",
    [
        ({"layers": [{"name": "a", "grad_norm": [1.0] * 3}, {"name": "b", "grad_norm": [1.0] * 2}]}, "one per epoch"),
        ({"layers": [{"name": "a", "grad_norm": [1.0] * 3}, {"name": "a", "grad_norm": [1.0] * 3}]}, "each layer name"),
        ({"layers": [{"name": "a", "grad_norm": [-1.0] * 3}, {"name": "b", "grad_norm": [1.0] * 3}]}, "never negative"),
        ({"layers": [{"name": "a", "grad_norm": [1.0] * 3, "mean": 2}]}, "Extra inputs"),
        ({"monitor": {"setup": SETUP, "steps": [{"step": 0}]}}, "greater than or equal to 1"),
    ],
)
def test_bad_telemetry_is_refused(body: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CurvesRequest.model_validate({"train_loss": [2.3, 2.0, 1.9], "n_classes": 10, **body})
