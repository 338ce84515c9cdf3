"""Each rule against a table of recorded evidence: what it must conclude, and what it must not."""

from __future__ import annotations

import pytest

from tests.unit.evidence_tables import evidence, flag, run
from worker.contract.spec import CAUSES, MONITOR_CAUSES
from worker.diagnosis.diagnose import diagnose, rank
from worker.diagnosis.rules import RULES
from worker.diagnosis.rules.base import Finding

STALL = [1.0, 0.99, 0.99, 0.99]
TRAINED = [1.0, 0.4, 0.15, 0.05]
GOOD_VAL = 0.95  # validation accuracy of a run that learned (vs majority 0.5, n=100)


def test_registry_holds_exactly_the_contract_causes() -> None:
    assert set(RULES) == set(CAUSES) - set(MONITOR_CAUSES)


CASES = [
    # (id, evidence, cause expected from that rule (None: the rule must stay silent))
    (
        "lr_high_diverged_fixed_by_smaller_lr",
        "lr_too_high",
        evidence(
            run("b", [1.0, 9.0, 8.0, 7.5], initial=1.0),
            [run("lr", TRAINED, family="lr_sweep", changes={"training.lr": 0.001}, val_acc=GOOD_VAL)],
        ),
    ),
    (
        "lr_high_needs_the_recovery",
        None,
        evidence(
            run("b", [1.0, 9.0, 8.0, 7.5]),
            [run("lr", [1.0, 0.95, 0.9, 0.9], family="lr_sweep", changes={"training.lr": 0.001})],
        ),
    ),
    (
        "lr_high_not_when_the_baseline_falls_steadily",
        None,
        evidence(
            run("b", [1.0, 0.9, 0.8, 0.7]), [run("lr", TRAINED, family="lr_sweep", changes={"training.lr": 0.001})]
        ),
    ),
    # an oscillating run (SGD momentum, batch of 1) never diverges, yet a smaller lr trains it
    (
        "lr_high_oscillating_fixed_by_smaller_lr",
        "lr_too_high",
        evidence(
            run("b", [0.95, 0.9, 0.97, 0.88, 0.93, 0.9]),
            [run("lr", TRAINED, family="lr_sweep", changes={"training.lr": 0.001}, val_acc=GOOD_VAL)],
        ),
    ),
    (
        "lr_low_flat_fixed_by_larger_lr",
        "lr_too_low",
        evidence(run("b", STALL), [run("lr", TRAINED, family="lr_sweep", changes={"training.lr": 1.0}, val_acc=0.9)]),
    ),
    (
        "lr_low_not_when_the_larger_lr_fails",
        None,
        evidence(run("b", STALL), [run("lr", [1.0, 2.0, None], family="lr_sweep", changes={"training.lr": 1.0})]),
    ),
    (
        "bad_init_fixed_by_default_init",
        "bad_initialization",
        evidence(run("b", STALL), [run("init", TRAINED, family="standard_init")], custom_init=True),
    ),
    (
        "bad_init_needs_a_custom_init",
        None,
        evidence(run("b", STALL), [run("init", TRAINED, family="standard_init")], custom_init=False),
    ),
    (
        "over_reg_fixed_without_penalty",
        "over_regularization",
        evidence(
            run("b", STALL, penalty=0.1), [run("noreg", TRAINED, family="no_regularization")], training={"l2": 5.0}
        ),
    ),
    (
        "over_reg_dominant_penalty_is_a_symptom",
        "over_regularization",
        evidence(run("b", [0.7, 0.69, 0.69, 0.69], penalty=0.6), [], training={"l2": 1.0}),
    ),
    (
        "over_reg_silent_without_regularization",
        None,
        evidence(run("b", STALL, penalty=0.0), [run("noreg", TRAINED, family="no_regularization")]),
    ),
    (
        "unscaled_fixed_by_standardizing",
        "unscaled_inputs",
        evidence(
            run("b", [40.0, 6.0, 5.0, 4.9]),
            [run("std", TRAINED, family="standardize_inputs")],
            checks=flag("input_scale", "feature 3 has |mean|+std 1e4"),
        ),
    ),
    (
        "non_finite_data_flagged",
        "non_finite_data",
        evidence(
            run("b", [None]),
            [run("drop", TRAINED, family="drop_non_finite")],
            checks=flag("non_finite", "12 input values are NaN", rows=12),
        ),
    ),
    (
        "frozen_all",
        "frozen_parameters",
        evidence(
            run("b", [1.4, 1.4, 1.4, 1.4]),
            [run("unfreeze", TRAINED, family="unfreeze")],
            checks=flag("frozen", "all 2 layers frozen", frozen_layers=[0, 2], param_layers=[0, 2], lr=0.01),
        ),
    ),
    (
        "mismatch_fixed_output",
        "loss_output_mismatch",
        evidence(
            run("b", [1.0, 0.75, 0.7, 0.7]),
            [run("fix", TRAINED, family="fix_output", changes={"model.layers": "final softmax removed"})],
            checks=flag("output_loss", "softmax before cross_entropy"),
        ),
    ),
    (
        "capacity_bigger_model_fits_and_generalizes",
        "insufficient_capacity",
        evidence(run("b", STALL), [run("big", TRAINED, family="bigger_model", changes={"model.layers": "wider"})]),
    ),
    (
        "capacity_not_when_validation_does_not_improve",
        None,
        evidence(
            run("b", STALL, val=[1.0, 1.0, 1.0, 1.0]),
            [run("big", TRAINED, family="bigger_model", val=[1.0, 1.0, 1.0, 0.98])],
        ),
    ),
    (
        "vanishing_tiny_first_layer_gradient",
        "vanishing_gradients",
        evidence(
            run("b", STALL),
            [run("relu", TRAINED, family="relu_activation")],
            grads={"0.linear": 1e-7, "2.linear": 1e-4, "4.linear": 1e-1},
        ),
    ),
    (
        "vanishing_not_with_healthy_gradients",
        None,
        evidence(
            run("b", STALL),
            [run("relu", TRAINED, family="relu_activation")],
            grads={"0.linear": 0.5, "2.linear": 0.6, "4.linear": 1.0},
        ),
    ),
    (
        "exploding_lr_independent",
        "exploding_gradients",
        evidence(
            run("b", [None]),
            [
                run("lr1", [None], family="lr_sweep", changes={"training.lr": 0.001}),
                run("lr2", [None], family="lr_sweep", changes={"training.lr": 0.0001}),
                run("bn", TRAINED, family="batchnorm"),
            ],
            grads={"0.linear": 1e5, "2.linear": 1e4, "4.linear": 1e2},
        ),
    ),
    (
        "exploding_not_when_a_smaller_lr_fixes_it",
        None,
        evidence(
            run("b", [None]),
            [run("lr1", TRAINED, family="lr_sweep", changes={"training.lr": 0.001})],
            grads={"0.linear": 1e5, "2.linear": 1e4, "4.linear": 1e2},
        ),
    ),
    (
        "dead_relus_at_init",
        "dead_relus",
        evidence(
            run("b", STALL),
            [run("init", TRAINED, family="standard_init")],
            dead={"1.relu": [1.0, 1.0, 1.0, 1.0, 1.0]},
            custom_init=True,
        ),
    ),
    (
        "dead_relus_silent_when_alive",
        None,
        evidence(
            run("b", STALL),
            [run("init", TRAINED, family="standard_init")],
            dead={"1.relu": [0.1, 0.1, 0.1, 0.1, 0.1]},
            custom_init=True,
        ),
    ),
    (
        "no_signal_nothing_beats_majority_and_shuffled_alike",
        "no_learnable_signal",
        evidence(
            run("b", [0.69, 0.66, 0.63, 0.6], val_acc=0.52, val=[0.7, 0.72, 0.75, 0.8]),
            [run("shuffled", [0.69, 0.66, 0.63, 0.61], family="shuffled_labels", val_acc=0.5)],
            n_val=20,
            val_majority=0.55,
        ),
    ),
    (
        "no_signal_silent_when_validation_beats_majority",
        None,
        evidence(
            run("b", [0.69, 0.66, 0.63, 0.6], val_acc=0.9),
            [run("shuffled", [0.69, 0.66, 0.63, 0.61], family="shuffled_labels", val_acc=0.5)],
        ),
    ),
    (
        "label_noise_plateau_with_signal",
        "label_noise",
        evidence(
            run("b", [1.0, 0.77, 0.76, 0.75, 0.75], val_acc=0.6, train_acc=0.62, fit=0.62, misfit=0.3),
            [run("big", [1.0, 0.75, 0.72, 0.7], family="bigger_model", val_acc=0.58)],
            val_majority=0.25,
        ),
    ),
    (
        "label_noise_not_when_labels_agree",
        None,
        evidence(
            run("b", [1.0, 0.8, 0.76, 0.75], val_acc=0.6, train_acc=0.97, fit=0.95, misfit=0.02), [], val_majority=0.25
        ),
    ),
    (
        "too_few_steps_still_falling_and_more_steps_win",
        "too_few_steps",
        evidence(
            run("b", [1.0, 0.6, 0.4, 0.3], val=[1.0, 0.6, 0.42, 0.32]),
            [
                run(
                    "more",
                    [1.0, 0.6, 0.4, 0.3, 0.2, 0.12, 0.08],
                    family="more_steps",
                    val=[1.0, 0.6, 0.42, 0.32, 0.22, 0.15, 0.12],
                    changes={"training.epochs": 7},
                )
            ],
        ),
    ),
    (
        "too_few_steps_not_when_converged",
        None,
        evidence(
            run("b", [1.0, 0.1, 0.02, 0.0199]), [run("more", [1.0, 0.1, 0.02, 0.0199, 0.0198], family="more_steps")]
        ),
    ),
    (
        "batch_size_smaller_batch_fixes",
        "batch_size",
        evidence(
            run("b", STALL),
            [run("bs", TRAINED, family="smaller_batch", changes={"training.batch_size": 32})],
            training={"batch_size": 400},
        ),
    ),
]


@pytest.mark.parametrize("case_id,cause,ev", CASES, ids=[c[0] for c in CASES])
def test_rule_table(case_id: str, cause: str | None, ev) -> None:
    rule_name = cause or case_id.split("_not_")[0].split("_silent")[0].split("_needs")[0]
    rule_name = {
        "lr_high": "lr_too_high",
        "lr_low": "lr_too_low",
        "bad_init": "bad_initialization",
        "over_reg": "over_regularization",
        "capacity": "insufficient_capacity",
        "vanishing": "vanishing_gradients",
        "exploding": "exploding_gradients",
        "no_signal": "no_learnable_signal",
    }.get(rule_name, rule_name)
    finding = RULES[rule_name](ev)
    if cause is None:
        assert finding is None or not finding.confirmed, finding
    else:
        assert finding is not None and finding.cause == cause
        assert any(any(ch.isdigit() for ch in line) for line in finding.evidence)  # findings carry numbers


def test_rank_prefers_the_bigger_recovery_then_precedence() -> None:
    a = Finding("lr_too_high", 0.9, ["x"], gain=1.0, confirmed=True)
    b = Finding("unscaled_inputs", 0.9, ["x"], gain=0.95, confirmed=True)
    c = Finding("insufficient_capacity", 0.9, ["x"], gain=0.5, confirmed=True)
    d = Finding("dead_relus", 0.6, ["x"])
    assert [f.cause for f in rank([c, d, a, b])] == [
        "unscaled_inputs",
        "lr_too_high",
        "insufficient_capacity",
        "dead_relus",
    ]


def test_no_signal_outranks_every_recovery() -> None:
    ranked = rank(
        [
            Finding("lr_too_low", 0.9, ["x"], gain=1.2, confirmed=True),
            Finding("no_learnable_signal", 0.9, ["x"], confirmed=True),
        ]
    )
    assert ranked[0].cause == "no_learnable_signal"


def test_a_trained_run_with_nothing_confirmed_is_healthy() -> None:
    d = diagnose(
        evidence(
            run("b", TRAINED, val_acc=GOOD_VAL),
            [run("lr", [1.0, 0.4, 0.1, 0.04], family="lr_sweep", changes={"training.lr": 0.1})],
        )
    )
    assert d.healthy is True and d.primary_cause is None and d.findings == []


def test_a_stalled_run_is_never_healthy() -> None:
    d = diagnose(evidence(run("b", STALL, val_acc=0.9)))
    assert d.healthy is False


def test_a_baseline_cut_short_by_the_budget_says_so() -> None:
    short = run("b", [1.0, 0.9, 0.85], stop_reason="deadline", planned=50)
    d = diagnose(evidence(short))
    assert d.complete is False and "3 of 50 epochs" in d.summary
    assert diagnose(evidence(run("b", STALL))).complete is True
