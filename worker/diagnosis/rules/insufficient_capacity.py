"""The model is too small to fit even the training data.

Confirms: a larger model recovers the loss in the same steps, with a lower validation loss, while
the baseline has levelled off (it is not still falling, or its continuation stalls too). Suggests
only: a plateau. Rules out: a baseline still falling when it stopped with no continuation that
stalled (a larger model may only learn faster in too few steps: more steps decide first); a
baseline cut short by the budget.
"""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import (
    SYMPTOM,
    best_recovery,
    diverged,
    fmt,
    gain,
    moved,
    recovers,
    score,
    still_falling,
)

CAUSE: RuleCause = "insufficient_capacity"

#: A train loss that levelled off at this share of chance or more suggests a model too small (the symptom half;
#: label_noise.PLATEAU, 0.25, is the stall its own rule reads beside the fit and misfit shares).
LEVELLED_OFF = 0.35


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    if b.cut_short:
        return None
    probe = best_recovery(ev, ("bigger_model",))
    if probe is None or not probe.val_best < 0.9 * b.val_best:
        return None
    longer = ev.family("more_steps")
    if still_falling(ev, b) and (not longer or recovers(ev, longer[0]) or still_falling(ev, longer[0])):
        return None
    evidence = [
        f"the train loss levelled off at {fmt(b.final)} (chance {fmt(ev.chance)})",
        f"a larger model ({probe.changes.get('model.layers')}) fell to {fmt(probe.final)} in the same "
        f"steps, with validation loss {fmt(probe.val_best)} against {fmt(b.val_best)}",
    ]
    if longer:
        evidence.append(
            f"the baseline trained on to {longer[0].changes.get('training.epochs')} epochs reached only "
            f"{fmt(longer[0].final)}"
        )
    return Finding(
        CAUSE,
        0.88,
        evidence,
        {"model.layers": probe.changes.get("model.layers")},
        gain(ev, probe),
        True,
    )


def symptoms(ev: Evidence) -> Finding | None:
    """The cause as the baseline's own curve shows it, with no larger model (``/v1/diagnose/curves``): the
    train loss moved, then levelled off (not still falling) at LEVELLED_OFF of chance or more, without diverging.
    A weak symptom (0.6 x SYMPTOM): noisy labels level a loss off as well."""
    b = ev.baseline
    if diverged(ev, b) or not moved(ev, b) or still_falling(ev, b) or score(ev, b) < LEVELLED_OFF:
        return None
    return Finding(
        CAUSE,
        SYMPTOM * 0.6,
        [f"the train loss levelled off at {fmt(b.final)} ({score(ev, b):.2f}x chance)"],
        {"model.layers": "a larger model, or check the labels for noise"},
    )
