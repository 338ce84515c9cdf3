"""The names the contract fixes for the plug-ins: probes, causes, pre-training checks and instruments.

Each vocabulary is a ``Literal``, stated once here; the registries (``worker.engine.probes.PROBES``,
``worker.diagnosis.rules.RULES``, ``worker.engine.checks.CHECKS``, ``worker.engine.instruments.INSTRUMENTS``)
are typed with them and a test holds each registry's keys to its literal's values, in order. Stdlib only.
"""

from __future__ import annotations

from typing import Literal, get_args

#: Probe families a spec may ask for by name (``"probes": [...]``); "auto" lets the service pick.
ProbeName = Literal[
    "lr_sweep",
    "standard_init",
    "no_regularization",
    "standardize_inputs",
    "shuffled_labels",
    "overfit_batch",
    "bigger_model",
    "more_steps",
    "relu_activation",
    "batchnorm",
    "grad_clip",
    "fix_output",
    "unfreeze",
    "drop_non_finite",
    "smaller_batch",
    "reseed",
    "larger_batch",
    "combination",
]

#: Causes the engine's rules name (``worker.diagnosis.rules``), in the contract's order (CONTRACT.md, "Causes").
RuleCause = Literal[
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
]
#: Causes that only the client-side monitor of a team's own training loop can see: no job spec can
#: hold such a bug, so no engine rule names them.
MonitorCause = Literal["training_loop_bug"]
#: The contract's cause vocabulary (``findings[].cause``, ``primary_cause``): the rules' and the monitor's.
CauseName = Literal[RuleCause, MonitorCause]

#: Pre-training checks (``worker.engine.checks``), in the order they run; ``checks`` in a result is keyed by them.
CheckName = Literal["non_finite", "input_scale", "label_range", "output_loss", "frozen"]

#: Instruments the baseline's training loop runs (``worker.engine.instruments``), in the order it calls them.
#: Each also names what it records: ``history.grad_norm``, ``history.update_ratio``, ``layers[].dead_fraction``,
#: the saturation series.
InstrumentName = Literal["grad_norm", "update_ratio", "dead_fraction", "saturation"]

PROBE_NAMES: tuple[ProbeName, ...] = get_args(ProbeName)
RULE_CAUSES: tuple[RuleCause, ...] = get_args(RuleCause)
MONITOR_CAUSES: tuple[MonitorCause, ...] = get_args(MonitorCause)
CAUSES: tuple[CauseName, ...] = get_args(CauseName)
CHECK_NAMES: tuple[CheckName, ...] = get_args(CheckName)
INSTRUMENT_NAMES: tuple[InstrumentName, ...] = get_args(InstrumentName)
