"""Diagnose a team's own training loop from ``lossdoctor.Monitor`` telemetry: pure functions of the numbers.

Torch-free, so the service runs them on the telemetry a monitor streams to ``/v1/runs`` and the monitor
runs the same ones offline (``monitor.summary()``). Each rule takes the setup and the step records and
returns its findings, each with the numbers that triggered it and a fix; ``RULES`` lists them in order.

    optimizer_params      the optimizer holds other tensors than the model's (another instance, a deepcopy)
    grads_never_cleared   backward passes keep adding to the gradients of the step before (no zero_grad)
    loss_detached         the loss is not computed from the model: no parameter ever gets a gradient
    params_without_grad   some trainable parameters never get a gradient
    optimizer_not_stepped the optimizer's step() is never called
    params_never_change   parameters with gradients do not change: lr 0, or the step is never applied
    non_finite            the loss or the gradients become NaN or infinite
    dead_relus            most units after a ReLU output zero for the whole batch

Cause ``training_loop_bug`` findings state observed facts about the code, not symptoms, so their
confidence is high; the others are symptoms (confidence 0.5) that a job on ``/v1/jobs`` can confirm.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from worker.contract.telemetry import MonitorSetup, StepRecord
from worker.contract.vocabulary import MonitorCause
from worker.diagnosis.rules.base import Finding

# the engine rules' causes that a monitored loop can show as symptoms, named by the rules themselves
from worker.diagnosis.rules.dead_relus import CAUSE as DEAD_RELUS
from worker.diagnosis.rules.exploding_gradients import CAUSE as EXPLODING_GRADIENTS
from worker.diagnosis.rules.frozen_parameters import CAUSE as FROZEN_PARAMETERS
from worker.diagnosis.rules.lr_too_high import CAUSE as LR_TOO_HIGH
from worker.diagnosis.rules.lr_too_low import CAUSE as LR_TOO_LOW
from worker.diagnosis.rules.non_finite_data import CAUSE as NON_FINITE_DATA

LOOP_BUG: MonitorCause = "training_loop_bug"
#: Steps in a row (after the first) whose backward passes all met uncleared gradients before we say so.
UNCLEARED_STEPS = 3
#: Steps with backward passes needed before a parameter that never got a gradient is reported.
NO_GRAD_STEPS = 3
#: Sampled steps (after the first) in which a parameter must stay unchanged before it is reported.
UNCHANGED_STEPS = 2
#: A ReLU layer counts as dead when at least this share of its units output zero for the whole batch …
DEAD_SHARE = 0.9
#: … on at least this many of the last sampled steps.
DEAD_SAMPLES = 3
#: Confidence of a symptom (a job's probes can confirm it).
SYMPTOM = 0.5

Rule = Callable[[MonitorSetup, Sequence[StepRecord]], list[Finding]]


def fmt(value: float | None) -> str:
    """A number for a sentence: 3 significant digits; ``non-finite`` for None, NaN or infinity."""
    return "non-finite" if value is None or not math.isfinite(value) else f"{value:.3g}"


def names(items: Sequence[str], most: int = 5) -> str:
    """Up to ``most`` names, comma-separated, and how many more."""
    shown = ", ".join(items[:most])
    return shown + (f" and {len(items) - most} more" if len(items) > most else "")


def span(steps: Sequence[StepRecord]) -> str:
    """``step 3`` or ``steps 2-10``."""
    first, last = steps[0].step, steps[-1].step
    return f"step {first}" if first == last else f"steps {first}-{last}"


def optimizer_params(setup: MonitorSetup, steps: Sequence[StepRecord]) -> list[Finding]:
    """The optimizer must hold the model's trainable tensors, the same objects, and all of them."""
    if setup.model_tensors == 0 or setup.shared_tensors == setup.model_tensors:
        return []
    held = (
        f"the optimizer ({setup.optimizer or 'optimizer'}) holds {setup.optimizer_tensors} parameter tensors "
        f"({setup.optimizer_values} values)"
    )
    fix = {
        "code": "build the optimizer from the model you train, after any copy or .to(): "
        f"torch.optim.{setup.optimizer or 'SGD'}(model.parameters(), ...)"
    }
    if setup.shared_tensors == 0:
        evidence = [
            f"{held}, none of them one of the model's {setup.model_tensors} trainable tensors "
            f"({setup.model_values} values)"
        ]
        if setup.foreign_match_model:
            evidence.append(
                "they have exactly the model's shapes: the optimizer was built from another "
                "instance or a copy (copy.deepcopy) of the model"
            )
        changed = [s.changed for s in steps if s.changed is not None]
        if changed and max(changed) == 0:
            evidence.append(
                f"no model parameter changed in {len(changed)} measured steps "
                f"({span([s for s in steps if s.changed is not None])})"
            )
        return [Finding(LOOP_BUG, 0.95, evidence, fix)]
    missing = setup.model_tensors - setup.shared_tensors
    evidence = [
        f"{held}: {setup.shared_tensors} of the model's {setup.model_tensors} trainable tensors; "
        f"{missing} are not in it ({names(setup.not_in_optimizer)}), so they never train"
    ]
    fix["code"] += "; or set requires_grad=False on the tensors meant to stay frozen"
    return [Finding(LOOP_BUG, 0.7, evidence, fix)]


def grads_never_cleared(setup: MonitorSetup, steps: Sequence[StepRecord]) -> list[Finding]:
    """Each step must start at least one backward pass from cleared gradients; accumulating over k
    micro-batches clears once per step and passes, a loop without ``zero_grad`` never clears after step 1."""
    measured = [s for s in steps if s.step > 1 and s.backward_passes > 0]
    uncleared = [s for s in measured if s.cleared_passes == 0]
    if len(uncleared) < UNCLEARED_STEPS or len(uncleared) < len(measured) / 2:
        return []
    evidence = [
        f"in {len(uncleared)} of {len(measured)} steps ({span(uncleared)}) every backward pass added to "
        "the gradients left from the step before: none found them cleared (None or zero)"
    ]
    norms = [(s.step, s.grad_norm) for s in steps if s.grad_norm is not None]
    if len(norms) >= 2:
        evidence.append(
            f"the gradient norm went from {fmt(norms[0][1])} at step {norms[0][0]} to "
            f"{fmt(norms[-1][1])} at step {norms[-1][0]}"
        )
    confidence = 0.95 if len(uncleared) == len(measured) else 0.7
    return [
        Finding(
            LOOP_BUG,
            confidence,
            evidence,
            {
                "code": "call optimizer.zero_grad() once per optimizer step, before the first backward pass "
                "(with gradient accumulation: before the first of the k micro-batches)"
            },
        )
    ]


def loss_detached(setup: MonitorSetup, steps: Sequence[StepRecord]) -> list[Finding]:
    """Backward passes of the loss must reach the model: some trainable parameter gets a gradient."""
    if setup.model_tensors == 0 or not steps:
        return []
    starved = [s for s in steps if s.params_with_grad == 0]
    if len(starved) < len(steps) or (len(steps) < 2 and steps[0].loss_graph == "number"):
        return []
    evidence = [f"no trainable model parameter received a gradient in {len(starved)} steps ({span(steps)})"]
    kinds = {s.loss_graph for s in steps}
    if "leaf" in kinds:
        evidence.append(
            "the loss passed to monitor.step is a leaf tensor (no grad_fn): it was not computed from "
            "the model, e.g. torch.tensor(loss.item(), requires_grad=True) or loss.detach()"
        )
    elif "no_grad" in kinds:
        evidence.append("the loss passed to monitor.step does not require grad: it was detached from the model")
    confidence = 0.95 if kinds & {"leaf", "no_grad"} else 0.8
    return [
        Finding(
            LOOP_BUG,
            confidence,
            evidence,
            {
                "code": "call backward() on the loss computed from the model's output; do not rebuild it "
                "from .item() or .detach() (log loss.item() separately)"
            },
        )
    ]


def params_without_grad(setup: MonitorSetup, steps: Sequence[StepRecord]) -> list[Finding]:
    """Every trainable parameter should get a gradient (one that never does is unused or cut off)."""
    with_names = [s for s in steps if s.sampled and s.backward_passes > 0 and s.params_with_grad > 0]
    if len(with_names) < NO_GRAD_STEPS:
        return []
    never = set(with_names[0].without_grad)
    for s in with_names[1:]:
        never &= set(s.without_grad)
    if not never:
        return []
    listed = sorted(never)
    evidence = [
        f"{len(listed)} trainable tensors never received a gradient in {len(with_names)} sampled steps "
        f"({span(with_names)}): {names(listed)}"
    ]
    return [
        Finding(
            LOOP_BUG,
            0.6,
            evidence,
            {
                "code": "use these parameters in the forward pass, or set requires_grad=False (and leave "
                "them out of the optimizer) if they are meant to stay fixed"
            },
        )
    ]


def optimizer_not_stepped(setup: MonitorSetup, steps: Sequence[StepRecord]) -> list[Finding]:
    """The optimizer must step: a record with ``optimizer_steps`` 0 closes many calls without one."""
    idle = [s for s in steps if s.optimizer_steps == 0]
    if not idle:
        return []
    return [
        Finding(
            LOOP_BUG,
            0.9,
            [
                f"optimizer.step() ({setup.optimizer or 'the optimizer'}) was not called between "
                f"{len(idle)} records of monitor.step ({span(idle)}); each closes up to 64 calls without one"
            ],
            {
                "code": "call optimizer.step() after loss.backward() (after the last micro-batch when "
                "accumulating gradients), then monitor.step(loss)"
            },
        )
    ]


def params_never_change(setup: MonitorSetup, steps: Sequence[StepRecord]) -> list[Finding]:
    """Parameters that receive gradients must change when the optimizer steps."""
    measured = [s for s in steps if s.step > 1 and s.changed is not None and s.params_with_grad > 0]
    if len(measured) < UNCHANGED_STEPS or setup.shared_tensors == 0:
        return []
    lrs = [s.lr for s in measured if s.lr is not None] or setup.lrs
    if all(s.changed == 0 for s in measured):
        if lrs and max(lrs) == 0:
            return [
                Finding(
                    LR_TOO_LOW,
                    0.9,
                    [
                        f"the optimizer's lr is 0 in every parameter group; no parameter changed in "
                        f"{len(measured)} measured steps ({span(measured)})"
                    ],
                    {"training.lr": "a positive learning rate, e.g. 1e-3 for Adam, 0.1 for SGD"},
                )
            ]
        return [
            Finding(
                LOOP_BUG,
                0.85,
                [
                    f"no model parameter changed in {len(measured)} measured steps ({span(measured)}) although "
                    f"{measured[-1].params_with_grad} received gradients (lr {fmt(max(lrs) if lrs else None)})"
                ],
                {"code": "call optimizer.step() after backward(), on the optimizer built from this model"},
            )
        ]
    stuck = set(measured[0].unchanged)
    for s in measured[1:]:
        stuck &= set(s.unchanged)
    if not stuck:
        return []
    listed = sorted(stuck)
    return [
        Finding(
            FROZEN_PARAMETERS,
            SYMPTOM,
            [
                f"{len(listed)} tensors received gradients but never changed in {len(measured)} measured steps "
                f"({span(measured)}): {names(listed)}"
            ],
            {"code": "check their parameter group's lr and the optimizer's masks for these tensors"},
        )
    ]


def non_finite(setup: MonitorSetup, steps: Sequence[StepRecord]) -> list[Finding]:
    """The loss and the gradients must stay finite."""
    bad = next((s for s in steps if s.loss is None and s.loss_graph != "number" or s.grad_finite is False), None)
    if bad is None:
        bad = next((s for s in steps if s.loss is None), None)
    if bad is None:
        return []
    before = [s.loss for s in steps if s.step < bad.step and s.loss is not None]
    what = "loss" if bad.loss is None else "gradient"
    if not before:
        return [
            Finding(
                NON_FINITE_DATA,
                SYMPTOM,
                [
                    f"the {what} was non-finite from step {bad.step}, before any update could cause it: "
                    "the inputs, labels or initial weights hold NaN or infinite values"
                ],
                {"data": "find and drop or fill the NaN/inf values (torch.isfinite on each batch)"},
            )
        ]
    rise = (
        f"rose from {fmt(before[0])} to {fmt(max(before))}"
        if max(before) > before[0]
        else f"went from {fmt(before[0])} to {fmt(before[-1])}"
    )
    cause = LR_TOO_HIGH if bad.loss is None else EXPLODING_GRADIENTS
    return [
        Finding(
            cause,
            SYMPTOM,
            [
                f"the loss {rise} over steps {steps[0].step}-{bad.step - 1}, then the {what} was non-finite "
                f"at step {bad.step}"
            ],
            {"training.lr": "10x smaller"} if cause == LR_TOO_HIGH else {"training.grad_clip_norm": 1.0},
        )
    ]


def dead_relus(setup: MonitorSetup, steps: Sequence[StepRecord]) -> list[Finding]:
    """Most units after a ReLU should not be zero for a whole batch."""
    readings: dict[str, list[tuple[int, float]]] = {}
    for s in steps:
        for layer in s.layers:
            if layer.dead_fraction is not None:
                readings.setdefault(layer.name, []).append((s.step, layer.dead_fraction))
    dead = {
        name: r[-DEAD_SAMPLES:]
        for name, r in readings.items()
        if len(r) >= DEAD_SAMPLES and min(v for _, v in r[-DEAD_SAMPLES:]) >= DEAD_SHARE
    }
    if not dead:
        return []
    evidence = [
        f"after layer {name}, at least {100 * min(v for _, v in r):.0f}% of the units output zero for the "
        f"whole batch at steps {r[0][0]}-{r[-1][0]}"
        for name, r in sorted(dead.items())
    ]
    return [
        Finding(
            DEAD_RELUS,
            SYMPTOM,
            evidence,
            {"model.layers": "leaky_relu, a smaller lr, or kaiming init for the layers before"},
        )
    ]


#: Every rule, in the order their findings are listed.
RULES: tuple[Rule, ...] = (
    optimizer_params,
    grads_never_cleared,
    loss_detached,
    params_without_grad,
    optimizer_not_stepped,
    params_never_change,
    non_finite,
    dead_relus,
)
#: A rule whose finding explains another rule's, which is then left out (the consequence, not the cause).
SUPERSEDES: dict[Rule, tuple[Rule, ...]] = {
    # zero_grad clears the optimizer's tensors, not the model's: their gradients add up as a consequence
    optimizer_params: (params_never_change, grads_never_cleared),
    loss_detached: (params_without_grad, params_never_change, grads_never_cleared),
    optimizer_not_stepped: (params_never_change, grads_never_cleared),
    non_finite: (dead_relus,),  # NaN activations are not > 0, so they read as dead units
}


def diagnose_run(setup: MonitorSetup, steps: Sequence[StepRecord]) -> dict[str, Any]:
    """The diagnosis of a monitored run, shaped like a job's (``healthy``, ``primary_cause``, ``findings``,
    ``summary``), with ``verdict_basis`` ``monitor`` and ``steps_seen``."""
    ordered = sorted(steps, key=lambda s: s.step)
    found: dict[Rule, list[Finding]] = {rule: rule(setup, ordered) for rule in RULES}
    for rule, dropped in SUPERSEDES.items():
        if found[rule]:
            for other in dropped:
                found[other] = []
    findings = [f for rule in RULES for f in found[rule]]
    primary = max(findings, key=lambda f: f.confidence) if findings else None
    seen = f"{len(ordered)} recorded steps" + (f" (up to step {ordered[-1].step})" if ordered else "")
    if primary is None:
        summary = (
            f"No fault seen in the training loop over {seen}: the optimizer holds the model's parameters, "
            "gradients are cleared each step, reach every parameter and change them, and stay finite."
        )
    else:
        also = [f.cause for f in findings if f is not primary]
        summary = (
            f"The likeliest cause is {primary.cause}: {'; '.join(primary.evidence)}. "
            f"Fix: {'; '.join(f'{k}: {v}' for k, v in primary.fix.items())}."
            + (f" Also seen: {', '.join(also)}." if also else "")
            + f" (from {seen})"
        )
    return {
        "healthy": primary is None,
        "primary_cause": primary.cause if primary else None,
        "findings": [{**f.as_dict(), "recovered": None} for f in findings],
        "summary": summary,
        "verdict_basis": "monitor",
        "steps_seen": len(ordered),
    }
