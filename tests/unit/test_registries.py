"""The four plug-in registries against the contract's vocabularies: each key is the plug-in's own name,
every name of the vocabulary is registered once, in the vocabulary's order (precedence for rules)."""

from __future__ import annotations

import importlib
from typing import get_args

import numpy as np
import pytest
import torch

from worker.contract.spec import JobSpec
from worker.contract.vocabulary import (
    CAUSES,
    CHECK_NAMES,
    INSTRUMENT_NAMES,
    MONITOR_CAUSES,
    PROBE_NAMES,
    RULE_CAUSES,
    CauseName,
    ProbeName,
)
from worker.diagnosis import monitor_rules
from worker.diagnosis.rules import GRADIENT_SYMPTOMS, RULES, SYMPTOMS
from worker.engine.checks import CHECKS
from worker.engine.checks.base import CheckResult
from worker.engine.instruments import INSTRUMENTS, StepView
from worker.engine.probes import PROBES

#: The cause table of CONTRACT.md ("Causes"), in its order: the public vocabulary users read.
CONTRACT_CAUSES = (
    "lr_too_high",
    "lr_too_low",
    "bad_initialization",
    "over_regularization",
    "vanishing_gradients",
    "exploding_gradients",
    "dead_relus",
    "no_learnable_signal",
    "label_noise",
    "unscaled_inputs",
    "non_finite_data",
    "insufficient_capacity",
    "loss_output_mismatch",
    "frozen_parameters",
    "batch_size",
    "too_few_steps",
    "overfitting",
    "training_loop_bug",
)


def test_the_cause_vocabulary_is_the_contracts_table() -> None:
    assert CAUSES == CONTRACT_CAUSES == get_args(CauseName)
    assert MONITOR_CAUSES == ("training_loop_bug",)
    assert set(RULE_CAUSES) | set(MONITOR_CAUSES) == set(CAUSES)
    assert not set(RULE_CAUSES) & set(MONITOR_CAUSES)


def test_rules_registry_is_every_rule_cause_once_each_from_its_own_module() -> None:
    assert sorted(RULES) == sorted(RULE_CAUSES) and len(RULES) == len(RULE_CAUSES)
    for cause, rule in RULES.items():
        module = importlib.import_module(f"worker.diagnosis.rules.{cause}")
        assert module.CAUSE == cause
        assert rule is module.rule


def test_rules_keep_their_precedence() -> None:
    # a data or wiring fault outranks the training knobs it disturbs; overfitting comes last
    order = list(RULES)
    assert order[:2] == ["non_finite_data", "no_learnable_signal"]
    assert order.index("unscaled_inputs") < order.index("lr_too_high") < order.index("lr_too_low")
    assert order[-1] == "overfitting"


def test_symptom_halves_belong_to_registered_rules_in_their_order() -> None:
    assert list(SYMPTOMS) == [c for c in RULES if c in SYMPTOMS]
    assert list(GRADIENT_SYMPTOMS) == [c for c in RULES if c in GRADIENT_SYMPTOMS]
    for cause, read in SYMPTOMS.items():
        assert read is importlib.import_module(f"worker.diagnosis.rules.{cause}").symptoms
    for cause, read in GRADIENT_SYMPTOMS.items():
        assert read is importlib.import_module(f"worker.diagnosis.rules.{cause}").gradient_symptoms


def test_monitor_rules_name_the_contracts_causes() -> None:
    assert monitor_rules.LOOP_BUG in MONITOR_CAUSES
    named = [monitor_rules.DEAD_RELUS, monitor_rules.EXPLODING_GRADIENTS, monitor_rules.FROZEN_PARAMETERS]
    named += [monitor_rules.LR_TOO_HIGH, monitor_rules.LR_TOO_LOW, monitor_rules.NON_FINITE_DATA]
    assert set(named) <= set(RULES)


def test_probes_registry_is_the_contract_probe_names_in_order() -> None:
    assert tuple(PROBES) == PROBE_NAMES == get_args(ProbeName)
    assert all(probe.name == name for name, probe in PROBES.items())
    # the spec accepts exactly these names
    spec = {
        "data": {"source": "builtin", "name": "iris"},
        "model": {"layers": [{"type": "linear", "out_features": 3}]},
        "training": {"loss": "cross_entropy"},
    }
    assert JobSpec.model_validate({**spec, "probes": list(PROBES)}).probes == list(PROBE_NAMES)


def _spec() -> JobSpec:
    return JobSpec.model_validate(
        {
            "data": {"source": "builtin", "name": "iris"},
            "model": {
                "layers": [
                    {"type": "linear", "out_features": 4},
                    {"type": "relu"},
                    {"type": "linear", "out_features": 3},
                ]
            },
            "training": {"loss": "cross_entropy"},
        }
    )


def test_checks_registry_is_the_check_names_in_run_order_and_each_result_says_its_key() -> None:
    assert tuple(CHECKS) == CHECK_NAMES
    x = np.random.default_rng(0).normal(size=(20, 4)).astype(np.float32)
    y = np.arange(20) % 3
    for name, check in CHECKS.items():
        result = check(_spec(), x, y)
        assert isinstance(result, CheckResult)
        assert result.name == name == importlib.import_module(f"worker.engine.checks.{name}").NAME


@pytest.mark.parametrize("name", INSTRUMENT_NAMES)
def test_instruments_registry_holds_each_name_and_each_records_under_it(name: str) -> None:
    assert tuple(INSTRUMENTS) == INSTRUMENT_NAMES
    cls = INSTRUMENTS[name]  # type: ignore[index]
    assert cls.name == name
    # one layer with parameters, a relu and a sigmoid after it; one measured step and one epoch
    w = torch.nn.Parameter(torch.ones(2, 2))
    ins = cls(["0.linear"], {0: "linear", 1: "relu", 2: "sigmoid"})
    ins.end_epoch({1: torch.zeros(4, 2), 2: torch.zeros(4, 2)})
    (w.sum() ** 2).backward()
    view = StepView([[w]], [[w.grad]])
    ins.before_step(view)
    with torch.no_grad():
        w -= 0.1 * w.grad  # type: ignore[operator]
    ins.after_step(view)
    ins.end_epoch({1: torch.zeros(4, 2), 2: torch.zeros(4, 2)})
    assert name in ins.steps or name in ins.summary()
