"""The rules' symptom halves by table: what each reads off a run's own curves, and that the curves diagnosis
reports exactly what the registered rules say (one rule set for jobs and curves)."""

from __future__ import annotations

import pytest

from tests.unit.evidence_tables import evidence, run
from worker.diagnosis.curves import CurvesRequest, diagnose_curves
from worker.diagnosis.rules import GRADIENT_SYMPTOMS, SYMPTOMS
from worker.diagnosis.rules.measures import SYMPTOM, LayerRatio

CURVES = [
    # (id, train loss per epoch (chance 1.0), the one cause whose symptom half must speak, None: none)
    ("diverged", [1.0, 3.0, 9.0], "lr_too_high"),
    ("non_finite", [1.0, 2.0, None], "lr_too_high"),
    ("stalled", [1.0, 0.99, 0.99, 0.99], "lr_too_low"),
    ("still_falling", [1.0, 0.8, 0.6, 0.45, 0.34], "too_few_steps"),
    ("levelled_off_high", [1.0, 0.6, 0.55, 0.55, 0.55], "insufficient_capacity"),
    ("levelled_off_low", [1.0, 0.3, 0.2, 0.2, 0.2, 0.2], None),  # below LEVELLED_OFF: no capacity symptom
    ("rose_then_fell_back", [1.0, 2.0, 0.5, 0.45, 0.44], "lr_too_high"),  # the peak counts: it diverged
]


@pytest.mark.parametrize("name,train,cause", CURVES, ids=[c[0] for c in CURVES])
def test_exactly_one_symptom_half_speaks_for_a_curve(name: str, train: list[float | None], cause: str | None) -> None:
    ev = evidence(run("b", train, initial=1.0))
    spoke = {c: f for c, read in SYMPTOMS.items() if (f := read(ev)) is not None}
    assert list(spoke) == ([cause] if cause else [])
    for c, f in spoke.items():
        assert f.cause == c and not f.confirmed and f.basis == "symptoms"
        assert 0 < f.confidence <= SYMPTOM and f.evidence and f.fix


def test_the_symptom_half_carries_the_curve_numbers() -> None:
    ev = evidence(run("b", [1.0, 3.0, 9.0], initial=1.0))
    f = SYMPTOMS["lr_too_high"](ev)
    assert f is not None
    assert f.evidence == ["the train loss rose from 1 to a peak of 9 and ended at 9"]
    still = SYMPTOMS["too_few_steps"](evidence(run("b", [1.0, 0.8, 0.6, 0.45, 0.34], initial=1.0)))
    assert still is not None and still.evidence == ["the train loss was still falling 25% an epoch at the end"]


RATIOS = [
    # (id, train loss, first/last gradient ratio, the gradient cause that must speak, None: none)
    ("vanishing_stalled", [1.0, 0.99, 0.99], 1e-4, "vanishing_gradients"),
    ("vanishing_at_the_threshold", [1.0, 0.99, 0.99], 1e-2, "vanishing_gradients"),
    ("just_above_vanishing", [1.0, 0.99, 0.99], 1.01e-2, None),
    ("vanishing_but_trained", [1.0, 0.3, 0.05, 0.04], 1e-4, None),
    ("exploding_diverged", [1.0, 5.0, 40.0], 1e3, "exploding_gradients"),
    ("large_ratio_without_divergence", [1.0, 0.99, 0.99], 1e3, None),
    ("just_below_exploding", [1.0, 5.0, 40.0], 99.0, None),
]


@pytest.mark.parametrize("name,train,ratio,cause", RATIOS, ids=[r[0] for r in RATIOS])
def test_gradient_symptom_halves_by_ratio(name: str, train: list[float], ratio: float, cause: str | None) -> None:
    ev = evidence(run("b", train, initial=1.0))
    measured = LayerRatio(ratio, "fc1", "fc3", "at epoch 2")
    spoke = {c: f for c, read in GRADIENT_SYMPTOMS.items() if (f := read(ev, measured)) is not None}
    assert list(spoke) == ([cause] if cause else [])
    for f in spoke.values():
        assert f.evidence == [f"at epoch 2 the gradient norm of fc1 was {ratio:.3g}x that of fc3"]
        assert f.confidence == SYMPTOM and not f.confirmed


@pytest.mark.parametrize("name,train,cause", CURVES, ids=[c[0] for c in CURVES])
def test_curves_report_the_registered_symptom_half(name: str, train: list[float | None], cause: str | None) -> None:
    d = diagnose_curves(CurvesRequest(train_loss=train, chance_loss=1.0, initial_loss=1.0))["diagnosis"]
    ev = evidence(run("b", train, initial=1.0))
    if cause is None:
        assert d["findings"] == []
        return
    expected = SYMPTOMS[cause](ev)  # type: ignore[index]
    assert expected is not None
    assert d["primary_cause"] == cause
    assert d["findings"] == [expected.as_dict()]


def test_curves_follow_a_rule_whose_symptom_half_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The curves diagnosis holds no copy of the rules: silence a rule's symptom half and the curves say nothing."""
    train = [1.0, 0.99, 0.99, 0.99]
    before = diagnose_curves(CurvesRequest(train_loss=train, chance_loss=1.0))["diagnosis"]
    assert before["primary_cause"] == "lr_too_low"
    monkeypatch.setitem(SYMPTOMS, "lr_too_low", lambda ev: None)
    after = diagnose_curves(CurvesRequest(train_loss=train, chance_loss=1.0))["diagnosis"]
    assert after["primary_cause"] is None and after["findings"] == []
