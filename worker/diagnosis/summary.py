"""The diagnosis summary: one paragraph a person can act on."""

from __future__ import annotations

from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import fmt, score

#: What each cause means, in a clause that follows "the run is not learning because".
MEANING: dict[str, str] = {
    "lr_too_high": "the learning rate is too high: steps overshoot",
    "lr_too_low": "the learning rate is too low: updates are too small to move the loss",
    "bad_initialization": "the initial weights stop learning",
    "over_regularization": "the regularization penalty dominates the loss",
    "vanishing_gradients": "gradients vanish before they reach the early layers",
    "exploding_gradients": "gradients explode, whatever the learning rate",
    "dead_relus": "most ReLU units are dead: they output zero for every input and get no gradient",
    "no_learnable_signal": "the labels carry no information the inputs can predict",
    "label_noise": "a large share of the labels is wrong",
    "unscaled_inputs": "the input features are on very large or very different scales",
    "non_finite_data": "the data holds NaN or infinite values",
    "insufficient_capacity": "the model is too small to fit the training data",
    "loss_output_mismatch": "the loss does not fit the model's output or the labels",
    "frozen_parameters": "parameters that should train never change",
    "batch_size": "the batch size leaves too few or too noisy steps",
    "too_few_steps": "it stops too early: the loss was still falling steadily",
    "overfitting": "it overfits: the train loss keeps falling while the validation loss rises from its best epoch",
    "training_loop_bug": "the training code does not do what it means",
}


#: The run that would confirm or rule out each cause, for an inconclusive verdict's note.
DECIDES: dict[str, str] = {
    "lr_too_high": "the lr_sweep probe (a smaller lr)",
    "lr_too_low": "the lr_sweep probe (a larger lr)",
    "bad_initialization": "the standard_init probe",
    "over_regularization": "the no_regularization probe",
    "vanishing_gradients": "the relu_activation and batchnorm probes",
    "exploding_gradients": "the lr_sweep probe at smaller lrs with the grad_clip and batchnorm probes",
    "dead_relus": "the standard_init probe and a smaller lr",
    "no_learnable_signal": "the shuffled_labels probe with a larger validation split",
    "label_noise": "a run with more steps and a larger validation split",
    "unscaled_inputs": "the standardize_inputs probe",
    "non_finite_data": "the drop_non_finite probe",
    "insufficient_capacity": "the bigger_model probe after the more_steps probe",
    "loss_output_mismatch": "the fix_output probe",
    "frozen_parameters": "the unfreeze probe",
    "batch_size": "the smaller_batch and larger_batch probes",
    "too_few_steps": "the more_steps probe with a larger budget_seconds",
    "overfitting": "a run with a validation split and more epochs",
}


def _fix_words(fix: dict[str, object]) -> str:
    return "; ".join(
        f"set {k} to {v}" if not isinstance(v, str) or k.startswith("training.") else f"{k}: {v}"
        for k, v in fix.items()
    )


def summarize(
    ev: Evidence, primary: Finding | None, ranked: list[Finding], healthy: bool, candidates: list[Finding] | None = None
) -> str:
    b = ev.baseline
    if healthy:
        return (
            f"Training is healthy: the train loss fell from {fmt(b.initial)} to {fmt(b.final)} "
            f"({score(ev, b):.2g}x the chance level {fmt(ev.chance)}) and the validation loss ended at "
            f"{fmt(b.val_final)}. No probe found a fault to fix."
        )
    if primary is None and candidates:
        named = "; ".join(f"{f.cause} ({DECIDES.get(f.cause, 'more probes')} would decide)" for f in candidates)
        return (
            f"Inconclusive: the run is not learning well (train loss {fmt(b.initial)} to {fmt(b.final)}, chance "
            f"{fmt(ev.chance)}), and the evidence cannot separate the candidates: {named}."
        )
    if primary is None:
        return (
            f"The run is not learning well (train loss {fmt(b.initial)} to {fmt(b.final)}, chance "
            f"{fmt(ev.chance)}), but no probe recovered it and no symptom points to a single cause. "
            "Look at the probe histories for what changed the loss most."
        )
    how = {
        "intervention": "An intervention confirmed it",
        "measured": "The run's own numbers show it (no intervention can test it)",
    }.get(primary.basis or "", "Symptoms suggest it, but no intervention confirmed it")
    text = (
        f"The run is not learning because {MEANING[primary.cause]}. {how}: {'; '.join(primary.evidence)}. "
        f"Fix: {_fix_words(primary.fix)}."
    )
    others = [f.cause for f in ranked[1:]]
    if others:
        text += " Also found: " + ", ".join(others) + "."
    return text
