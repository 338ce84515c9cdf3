"""Verdicts that hold: each pattern where a confident wrong cause was named, as a table of
evidence that must give the honest answer (the right cause, or inconclusive)."""

from __future__ import annotations

from typing import Any

from tests.unit.evidence_tables import evidence, flag, run
from worker.contract.result import Diagnosis
from worker.diagnosis.curves import CurvesRequest, diagnose_curves
from worker.diagnosis.diagnose import diagnose
from worker.diagnosis.rules import RULES
from worker.diagnosis.rules.measures import decidable

TRAINED = [1.0, 0.4, 0.15, 0.05]
FLAT = [1.0, 0.99, 0.99, 0.99, 0.99]


def _causes(d: Diagnosis) -> list[str]:
    return [f.cause for f in d.findings]


def _confirmed(d: Diagnosis) -> list[str]:
    return [f.cause for f in d.findings if f.confirmed]


# 1. "no signal" needs evidence that the labels, not the training, are at fault


def test_no_signal_not_claimed_when_the_baseline_leans_to_signal() -> None:
    # 30 validation samples, accuracy 0.67 against a majority of 0.40 (p = 0.003): too weak for the
    # signal test, yet far from "no information"
    b = run("b", [0.96, 0.94, 0.93, 0.93, 0.93], val_acc=0.67)
    s = run("s", [1.1, 1.1, 1.1, 1.1, 1.1], family="shuffled_labels", val_acc=0.4)
    ev = evidence(b, [s], n_val=30, val_majority=0.4)
    assert RULES["no_learnable_signal"](ev) is None


def test_no_signal_not_claimed_while_the_baseline_is_still_falling() -> None:
    b = run("b", [1.0, 0.9, 0.8, 0.7], val_acc=0.5)
    s = run("s", [1.0, 0.9, 0.8, 0.7], family="shuffled_labels", val_acc=0.5)
    assert RULES["no_learnable_signal"](evidence(b, [s])) is None


def test_no_signal_still_claimed_for_random_labels() -> None:
    b = run("b", [0.70, 0.69, 0.69, 0.69, 0.69], val_acc=0.5)
    s = run("s", [0.70, 0.69, 0.69, 0.69, 0.68], family="shuffled_labels", val_acc=0.5)
    f = RULES["no_learnable_signal"](evidence(b, [s], n_val=200))
    assert f is not None and f.confirmed and any("n = 200" in line for line in f.evidence)


def test_a_validation_split_too_small_to_decide() -> None:
    assert not decidable(evidence(run("b", FLAT), n_val=12, val_majority=0.5))
    assert decidable(evidence(run("b", FLAT), n_val=200, val_majority=0.5))


# 2. and 8. short and budget-cut runs are not judged as if finished


def test_a_baseline_cut_short_confirms_nothing() -> None:
    b = run("b", [1.0, 0.8], stop_reason="deadline", planned=200, val_acc=0.9, fit=0.6, misfit=0.3)
    fixed = run("lr", TRAINED, family="lr_sweep", changes={"training.lr": 0.001}, val_acc=0.95)
    d = diagnose(evidence(b, [fixed], val_majority=0.25))
    assert d.primary_cause is None and d.verdict_basis == "inconclusive" and d.complete is False
    assert _confirmed(d) == [] and "2 of 200 epochs" in d.summary


def test_a_probe_cut_short_recovers_nothing() -> None:
    cut = run(
        "lr",
        TRAINED,
        family="lr_sweep",
        changes={"training.lr": 0.001},
        val_acc=0.95,
        stop_reason="deadline",
        planned=20,
    )
    d = diagnose(evidence(run("b", [1.0, 9.0, 8.0, 7.5]), [cut]))
    assert "lr_too_high" not in _confirmed(d) and d.complete is False


def test_capacity_not_confirmed_while_the_baseline_is_still_falling() -> None:
    b = run("b", [1.0, 0.9, 0.8, 0.7, 0.6])
    big = run("big", [1.0, 0.5, 0.2, 0.1, 0.05], family="bigger_model", val=[1.0, 0.5, 0.2, 0.1, 0.06])
    assert RULES["insufficient_capacity"](evidence(b, [big])) is None
    levelled = run("b", [1.0, 0.75, 0.71, 0.7, 0.7])
    assert RULES["insufficient_capacity"](evidence(levelled, [big])) is not None


# 3. the root cause over the setting that compensates for it


def test_standardizing_beats_a_larger_lr_when_the_scale_check_flagged() -> None:
    b = run("b", FLAT)
    std = run("std", [1.0, 0.5, 0.3, 0.2, 0.15], family="standardize_inputs", val_acc=0.9)
    lr = run("lr", [1.0, 0.3, 0.1, 0.05, 0.02], family="lr_sweep", changes={"training.lr": 1.0}, val_acc=0.9)
    d = diagnose(evidence(b, [std, lr], checks=flag("input_scale", "feature 3 has |mean|+std 1e4")))
    assert d.primary_cause == "unscaled_inputs" and _causes(d)[:2] == ["unscaled_inputs", "lr_too_low"]


def test_an_explosion_tamed_by_a_smaller_lr_is_the_lr() -> None:
    b = run("b", [1.0, 50.0, None])
    ok = run("lr", TRAINED, family="lr_sweep", changes={"training.lr": 0.03}, val_acc=0.95)
    clip = run("clip", TRAINED, family="grad_clip", val_acc=0.95)
    d = diagnose(
        evidence(b, [ok, clip], training={"lr": 3.0}, grads={"0.linear": 1e4, "2.linear": 1e4, "4.linear": 1.0})
    )
    assert d.primary_cause == "lr_too_high" and "exploding_gradients" not in _confirmed(d)


# 4. label noise needs its own evidence and loses to any recovery


def _noisy(**kw: Any) -> Any:
    return run("b", [1.0, 0.77, 0.76, 0.75, 0.75], val_acc=0.6, train_acc=0.62, **kw)


def test_label_noise_needs_a_split_into_fit_and_misfit_samples() -> None:
    assert RULES["label_noise"](evidence(_noisy(fit=0.6, misfit=0.3), val_majority=0.25)) is not None
    # an underfit model misfits a little everywhere (dropout, frozen, low lr): most samples in between
    assert RULES["label_noise"](evidence(_noisy(fit=0.2, misfit=0.15), val_majority=0.25)) is None


def test_label_noise_loses_to_an_open_check_or_a_recovery() -> None:
    shares = {"fit": 0.6, "misfit": 0.3}
    assert RULES["label_noise"](evidence(_noisy(**shares), checks=flag("non_finite"), val_majority=0.25)) is None
    free = run("free", TRAINED, family="no_regularization", val_acc=0.95)
    assert RULES["label_noise"](evidence(_noisy(**shares), [free], val_majority=0.25)) is None


def test_label_noise_loses_to_a_training_change_that_moved_the_plateau() -> None:
    # an lr too high stalls a run at a plateau with a fit and a misfit share, as wrong labels would;
    # a smaller lr ending 0.35x chance lower (not a full recovery) says the plateau is the training's
    shares = {"fit": 0.6, "misfit": 0.3}
    lower = run("lr", [1.0, 0.6, 0.45, 0.4, 0.4], family="lr_sweep", changes={"training.lr": 0.003}, val_acc=0.7)
    assert RULES["label_noise"](evidence(_noisy(**shares), [lower], val_majority=0.25)) is None
    # a change of that kind that moves it less leaves label noise standing, as does a bigger model
    # (which may fit wrong labels by heart)
    level = run("lr", [1.0, 0.8, 0.7, 0.68, 0.66], family="lr_sweep", changes={"training.lr": 0.003}, val_acc=0.6)
    assert RULES["label_noise"](evidence(_noisy(**shares), [level], val_majority=0.25)) is not None
    big = run("big", [1.0, 0.6, 0.45, 0.4, 0.4], family="bigger_model", val_acc=0.6)
    assert RULES["label_noise"](evidence(_noisy(**shares), [big], val_majority=0.25)) is not None


def test_label_noise_is_measured_not_confirmed() -> None:
    d = diagnose(evidence(_noisy(fit=0.6, misfit=0.3), val_majority=0.25))
    assert d.primary_cause == "label_noise" and d.verdict_basis == "measured"
    assert "An intervention confirmed it" not in d.summary


# 5. a setting that an intervention fixes is the cause, its mechanism is not


def test_relus_killed_by_the_lr_are_the_lr() -> None:
    b = run("b", [1.0, 1.0, 1.0, 1.0])
    ok = run("lr", TRAINED, family="lr_sweep", changes={"training.lr": 0.001}, val_acc=0.95)
    d = diagnose(evidence(b, [ok], dead={"1.relu": [0.1, 0.95, 0.97, 0.99]}))
    assert d.primary_cause == "lr_too_high" and "dead_relus" in _causes(d)


def test_a_steadily_falling_run_needs_more_steps_before_a_larger_lr() -> None:
    b = run("b", [1.0, 0.85, 0.72, 0.61, 0.52], val=[1.0, 0.86, 0.74, 0.63, 0.55])
    more = run(
        "more",
        [1.0, 0.85, 0.72, 0.61, 0.52, 0.3, 0.15, 0.1],
        family="more_steps",
        val=[1.0, 0.86, 0.74, 0.63, 0.55, 0.32, 0.18, 0.13],
        changes={"training.epochs": 8},
    )
    up = run("lr", [1.0, 0.3, 0.1, 0.05, 0.03], family="lr_sweep", changes={"training.lr": 0.1}, val_acc=0.95)
    d = diagnose(evidence(b, [more, up]))
    assert d.primary_cause == "too_few_steps" and "lr_too_low" in _causes(d)


# 6. two faults at once


def test_two_faults_are_both_confirmed_by_their_combination() -> None:
    b = run("b", [1.0, 30.0, None])
    init = run("init", [1.0, 20.0, None], family="standard_init")
    low = run("lr", [3.0, 2.9, 2.9], family="lr_sweep", changes={"training.lr": 0.01})
    both = run(
        "both",
        TRAINED,
        family="combination",
        val_acc=0.95,
        changes={"combines": ["standard_init", "lr_sweep"], "model.init": "default", "training.lr": 0.01},
    )
    d = diagnose(evidence(b, [init, low, both], training={"lr": 1.0}, custom_init=True))
    assert set(_confirmed(d)) >= {"bad_initialization", "lr_too_high"}
    assert d.primary_cause == "bad_initialization"


# 7. an oscillating run, a batch too small


def test_a_batch_of_one_fixed_by_a_larger_batch() -> None:
    b = run("b", [0.9, 0.95, 0.88, 0.93, 0.9])
    big = run("bs", TRAINED, family="larger_batch", changes={"training.batch_size": 32}, val_acc=0.95)
    f = RULES["batch_size"](evidence(b, [big], training={"batch_size": 1}))
    assert f is not None and f.confirmed and f.fix == {"training.batch_size": 32}


# no evidence to separate candidates: inconclusive, naming the run that would decide


def test_tied_symptoms_are_inconclusive_and_name_the_deciding_run() -> None:
    # an output that does not fit the loss and vanishing gradients, neither tested by its probe
    ev = evidence(
        run("b", FLAT),
        [],
        checks=flag("output_loss", "softmax before cross_entropy"),
        grads={"0.linear": 1e-6, "2.linear": 1e-3, "4.linear": 1.0},
    )
    d = diagnose(ev)
    assert d.primary_cause is None and d.verdict_basis == "inconclusive" and d.healthy is False
    assert {"loss_output_mismatch", "vanishing_gradients"} <= set(_causes(d))
    assert "fix_output probe" in d.summary and any("would decide" in n for n in d.notes)


# 9. curves from elsewhere read the validation loss


def test_curves_with_a_rising_validation_loss_are_overfitting() -> None:
    d = Diagnosis.model_validate(
        diagnose_curves(
            CurvesRequest(
                train_loss=[2.3, 1.2, 0.5, 0.1, 0.03, 0.01], val_loss=[1.3, 1.0, 1.1, 2.0, 3.1, 4.2], n_classes=10
            )
        )["diagnosis"]
    )
    assert d.primary_cause == "overfitting" and d.healthy is False
    assert d.findings[0].fix["training.epochs"] == 2


def test_overfitting_in_a_job_is_measured_from_its_own_validation_curve() -> None:
    b = run("b", [1.0, 0.5, 0.2, 0.1, 0.05, 0.02], val=[1.0, 0.6, 0.5, 0.7, 0.9, 1.1], val_acc=0.9)
    d = diagnose(evidence(b))
    assert d.primary_cause == "overfitting" and d.healthy is False and d.verdict_basis == "measured"


def test_no_signal_not_claimed_when_the_best_fitting_run_leans_to_signal() -> None:
    # lr far too high: the baseline bounces at 8x chance; a 100x smaller lr fits best and reaches 0.63
    # validation accuracy against 0.40 (p = 0.008 on 30): the labels do carry something
    b = run("b", [9.0, 8.0, 9.5, 8.1, 8.9], initial=1.1, val_acc=0.33)
    s = run("s", [9.0, 8.5, 8.2, 8.3, 8.9], family="shuffled_labels", initial=1.1, val_acc=0.4)
    low = run(
        "lr", [1.2, 0.85, 0.9, 0.97, 0.85], family="lr_sweep", changes={"training.lr": 0.3}, initial=1.1, val_acc=0.633
    )
    ev = evidence(b, [s, low], n_val=30, val_majority=0.4, training={"lr": 30.0})
    assert RULES["no_learnable_signal"](ev) is None
    d = diagnose(ev)
    assert d.primary_cause == "lr_too_high" and d.verdict_basis == "symptoms"
    assert "An intervention confirmed it" not in d.summary
