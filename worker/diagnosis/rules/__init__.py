"""Diagnosis rules: one cause per file, each a pure function of ``Evidence`` returning a finding or None.

A rule whose cause a run's own curves can suggest also exposes that symptom half on its own (``symptoms``,
``gradient_symptoms``): the curves diagnosis (``worker.diagnosis.curves``) calls those, so one rule set
serves both jobs and curves.

``RULES`` is the explicit registry; its keys are exactly the contract's causes that a job can show
(``worker.contract.vocabulary.RuleCause``).
"""

from __future__ import annotations

from collections.abc import Callable

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules import (
    bad_initialization,
    batch_size,
    dead_relus,
    exploding_gradients,
    frozen_parameters,
    insufficient_capacity,
    label_noise,
    loss_output_mismatch,
    lr_too_high,
    lr_too_low,
    no_learnable_signal,
    non_finite_data,
    over_regularization,
    overfitting,
    too_few_steps,
    unscaled_inputs,
    vanishing_gradients,
)
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import LayerRatio

Rule = Callable[[Evidence], Finding | None]
Symptoms = Callable[[Evidence], Finding | None]
GradientSymptoms = Callable[[Evidence, LayerRatio], Finding | None]

#: Causes in order of precedence: when two confirmed fixes recover about as much, the earlier
#: cause is named primary (a data or wiring fault before the training knobs it disturbs). Each rule module
#: says its own cause once (``CAUSE``).
_RULES = (
    non_finite_data,
    no_learnable_signal,
    frozen_parameters,
    loss_output_mismatch,
    unscaled_inputs,
    bad_initialization,
    dead_relus,
    vanishing_gradients,
    exploding_gradients,
    over_regularization,
    lr_too_high,
    lr_too_low,
    insufficient_capacity,
    batch_size,
    too_few_steps,
    label_noise,
    overfitting,
)
RULES: dict[RuleCause, Rule] = {m.CAUSE: m.rule for m in _RULES}

#: The symptom halves: what a rule reads off the baseline's own curves alone, with no probe to confirm it
#: (``symptoms(ev)``), for runs made elsewhere (``worker.diagnosis.curves``). In ``RULES``' order; each
#: reading excludes the others, so a curve shows at most one of them.
SYMPTOMS: dict[RuleCause, Symptoms] = {
    m.CAUSE: m.symptoms for m in (lr_too_high, lr_too_low, insufficient_capacity, too_few_steps)
}
#: The symptom halves read from a first/last layer gradient ratio (``gradient_symptoms(ev, measured)``).
GRADIENT_SYMPTOMS: dict[RuleCause, GradientSymptoms] = {
    m.CAUSE: m.gradient_symptoms for m in (vanishing_gradients, exploding_gradients)
}

__all__ = ["GRADIENT_SYMPTOMS", "RULES", "SYMPTOMS", "Finding", "GradientSymptoms", "LayerRatio", "Rule", "Symptoms"]
