"""The loss is still falling steadily when training stops: more steps, nothing broken."""

from __future__ import annotations

from worker.contract.vocabulary import RuleCause
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.rules.base import Finding
from worker.diagnosis.rules.measures import FALLING, SYMPTOM, capped, diverged, falling_rate, fmt, moved, still_falling

CAUSE: RuleCause = "too_few_steps"

#: The longer run must end at most this share of the baseline's final loss...
RATIO = 0.5
#: ...win at least this share of chance on the training loss by training on (more epochs, the same run): a
#: continuation's gain, far smaller than the MIN_GAIN of ``measures`` (0.2) that a probe's change must win...
MIN_FURTHER_GAIN = 0.05
#: ...and lower the best validation loss by at least this share of its chance level.
MIN_VAL_GAIN = 0.025


def rule(ev: Evidence) -> Finding | None:
    b = ev.baseline
    longer = ev.family("more_steps")
    if not longer or not moved(ev, b):
        return None
    rate = falling_rate(b)
    p = longer[0]
    won = capped(ev, b) - capped(ev, p)
    val_won = (b.val_best - p.val_best) / ev.val_chance if ev.val_chance > 0 else 0.0
    if rate < FALLING or p.final > RATIO * b.final or won < MIN_FURTHER_GAIN or not val_won >= MIN_VAL_GAIN:
        return None
    epochs = p.changes.get("training.epochs")
    evidence = [
        f"the train loss fell from {fmt(b.initial)} to {fmt(b.final)} and was still falling "
        f"{100 * rate:.0f}% an epoch when training stopped",
        f"with {epochs} epochs the same run reached {fmt(p.final)} (validation {fmt(p.val_best)} "
        f"against {fmt(b.val_best)})",
    ]
    return Finding(CAUSE, 0.85, evidence, {"training.epochs": epochs}, won, True)


def symptoms(ev: Evidence) -> Finding | None:
    """The cause as the baseline's own curve shows it, with no continuation (``/v1/diagnose/curves``): the
    train loss moved, did not diverge, and was still falling at least FALLING an epoch at the end."""
    b = ev.baseline
    if diverged(ev, b) or not still_falling(ev, b):
        return None
    return Finding(
        CAUSE,
        SYMPTOM,
        [f"the train loss was still falling {100 * falling_rate(b):.0f}% an epoch at the end"],
        {"training.epochs": "more"},
    )
