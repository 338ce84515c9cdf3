"""Shared measures over evidence: how well a run trained, whether a probe recovered the loss.

Losses are compared in units of the chance-level loss, so one threshold serves every loss and
data set: a score of 1 is a constant guess, 0 a perfect fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from worker.diagnosis.evidence import Evidence
from worker.diagnosis.record import WEIGHT_KINDS, RunRecord

#: A run "trained" when its final train loss is at most this share of chance...
TRAINED_SCORE = 0.6
#: ...and at most this share of its loss at init.
TRAINED_CUT = 0.5
#: A diverged baseline counts as this share of chance when measuring what a fix recovered.
SCORE_CAP = 1.5
#: A probe "recovers" the loss when it wins at least this share of chance over the baseline,
MIN_GAIN = 0.2
#: ends at most this share of the baseline's final loss,
RECOVERY_RATIO = 0.5
#: and its validation loss ends below this share of the validation chance level.
VAL_BELOW = 0.9
#: Families whose runs train on the real labels of the full training split.
REAL_LABEL_EXCLUDED = ("shuffled_labels", "overfit_batch")
#: Significance for "validation accuracy above the majority class".
SIGNAL_P = 1e-3
#: Regression: validation loss at most this share of chance shows signal.
REGRESSION_SIGNAL = 0.8
#: A looser level: a run whose validation accuracy beats the majority class at this p *hints* at
#: signal; "no signal" cannot be claimed while any run does.
HINT_P = 0.05
#: Regression: validation loss at most this share of chance hints at signal.
REGRESSION_HINT = 0.95
#: The validation split can decide a data question only when an accuracy this far from the
#: majority class towards a perfect score would reach SIGNAL_P...
POWER_SHARE = 0.5
#: ...and (regression) when it holds at least this many samples.
MIN_VAL_SAMPLES = 30
#: Still falling: at least this relative decrease of the train loss per epoch over the last epochs.
FALLING = 0.05
#: Confidence of a rule's symptom half read off a run's own curves, with no intervention to confirm it.
SYMPTOM = 0.5


def share_of_chance(final: float, chance_loss: float | None) -> float:
    """A final train loss over the chance level; inf when non-finite or negative.

    Every contract loss is at least 0 when the output fits it; a negative loss (nll on raw
    outputs, say) is unbounded below, as broken as a non-finite one. An unusable chance level
    counts as 1.
    """
    if final < 0:
        return math.inf
    usable = chance_loss if chance_loss and math.isfinite(chance_loss) and chance_loss > 0 else 1.0
    return final / usable


def chance(ev: Evidence, run: RunRecord) -> float:
    c = run.chance if run.chance else ev.chance
    return c if c and math.isfinite(c) and c > 0 else 1.0


def score(ev: Evidence, run: RunRecord) -> float:
    """Final train loss over chance (``share_of_chance``)."""
    return share_of_chance(run.final, chance(ev, run))


def capped(ev: Evidence, run: RunRecord) -> float:
    s = score(ev, run)
    return SCORE_CAP if not math.isfinite(s) else min(s, SCORE_CAP)


def gain(ev: Evidence, probe: RunRecord) -> float:
    """Share of chance the probe recovered over the baseline (negative when it did worse)."""
    return capped(ev, ev.baseline) - capped(ev, probe)


def recovers(ev: Evidence, probe: RunRecord) -> bool:
    """The probe trains where the baseline did not: the intervention fixes the run.

    A probe the budget cut short recovers nothing: its numbers describe part of a run.
    """
    if not math.isfinite(probe.final) or probe.cut_short:
        return False
    below_val = probe.val_best < VAL_BELOW * ev.val_chance if math.isfinite(ev.val_chance) else True
    ratio_ok = score(ev, probe) <= RECOVERY_RATIO * score(ev, ev.baseline)
    return gain(ev, probe) >= MIN_GAIN and score(ev, probe) <= TRAINED_SCORE and below_val and ratio_ok


def best_recovery(ev: Evidence, families: tuple[str, ...]) -> RunRecord | None:
    """The probe of ``families`` that recovered the most, if any recovered."""
    runs = [p for p in ev.probes if p.family in families and recovers(ev, p)]
    return max(runs, key=lambda p: gain(ev, p)) if runs else None


def trained(ev: Evidence, run: RunRecord) -> bool:
    """Cut the loss well below chance and below its value at init, with validation below chance."""
    if not math.isfinite(score(ev, run)):
        return False
    start = run.initial if run.initial is not None and math.isfinite(run.initial) else math.inf
    cut = run.final <= TRAINED_CUT * max(start, chance(ev, run)) if math.isfinite(start) else True
    val_ok = run.val_final < ev.val_chance if math.isfinite(ev.val_chance) else True
    return score(ev, run) <= TRAINED_SCORE and cut and val_ok


def moved(ev: Evidence, run: RunRecord) -> bool:
    """The loss fell by at least 10% of where it started (or of chance, whichever is lower)."""
    if not math.isfinite(run.final):
        return False
    start = run.initial if run.initial is not None and math.isfinite(run.initial) else chance(ev, run)
    return run.final <= 0.9 * min(start, chance(ev, run)) or (start - run.final) >= 0.1 * start


def diverged(ev: Evidence, run: RunRecord) -> bool:
    """Non-finite, or the loss rose well above where it started."""
    if run.nonfinite or not math.isfinite(run.peak):
        return True
    start = run.initial if run.initial is not None and math.isfinite(run.initial) else chance(ev, run)
    ref = max(start, chance(ev, run))
    return run.peak > 1.5 * ref or run.final > 1.1 * ref


def falling_rate(run: RunRecord, last: int = 3) -> float:
    """Mean relative decrease per epoch over the last ``last`` epochs (0.1 = falling 10% an epoch)."""
    vals = [v for v in run.train_loss if v is not None]
    if len(vals) < 2 or any(v <= 0 for v in vals[-(last + 1) :]):
        return 0.0
    tail = vals[-(last + 1) :]
    rates = [(a - b) / a for a, b in zip(tail, tail[1:], strict=False)]
    return sum(rates) / len(rates)


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if p <= 0:
        return 0.0
    if p >= 1:
        return 1.0
    if n > 2000:  # normal approximation with continuity correction
        mu, sd = n * p, math.sqrt(n * p * (1 - p))
        return 0.5 * math.erfc((k - 0.5 - mu) / (sd * math.sqrt(2)))
    total = 0.0
    for i in range(k, n + 1):
        total += math.exp(
            math.lgamma(n + 1)
            - math.lgamma(i + 1)
            - math.lgamma(n - i + 1)
            + i * math.log(p)
            + (n - i) * math.log1p(-p)
        )
    return min(total, 1.0)


def signal_p(ev: Evidence, run: RunRecord) -> float:
    """p-value of the run's final validation accuracy against the majority class (classification)."""
    acc = run.val_acc_final
    if acc is None or ev.val_majority is None or ev.n_val <= 0:
        return 1.0
    return binomial_sf(round(acc * ev.n_val), ev.n_val, ev.val_majority)


def hints_signal(ev: Evidence, run: RunRecord, level: float = HINT_P) -> bool:
    """The run's validation result leans towards signal, at the looser ``level`` (HINT_P)."""
    if ev.n_classes is not None:
        return signal_p(ev, run) < level
    return math.isfinite(run.val_final) and run.val_final <= REGRESSION_HINT * ev.val_chance


def min_detectable_acc(n: int, majority: float) -> float:
    """The smallest validation accuracy over ``n`` samples that beats ``majority`` at SIGNAL_P."""
    for k in range(n + 1):
        if binomial_sf(k, n, majority) < SIGNAL_P:
            return k / n
    return math.inf


def decidable(ev: Evidence) -> bool:
    """The validation split is large enough for a test to tell signal from none.

    Classification: a model halfway from the majority class to a perfect score would pass the
    signal test. Regression: at least MIN_VAL_SAMPLES samples.
    """
    if ev.n_classes is not None:
        if ev.val_majority is None or ev.n_val <= 0:
            return False
        return min_detectable_acc(ev.n_val, ev.val_majority) <= ev.val_majority + POWER_SHARE * (1 - ev.val_majority)
    return ev.n_val >= MIN_VAL_SAMPLES


def still_falling(ev: Evidence, run: RunRecord) -> bool:
    """The loss moved and was still falling at least FALLING an epoch when the run stopped."""
    return moved(ev, run) and falling_rate(run) >= FALLING


def real_label_runs(ev: Evidence) -> list[RunRecord]:
    return [ev.baseline] + [p for p in ev.probes if p.family not in REAL_LABEL_EXCLUDED]


def shows_signal(ev: Evidence, run: RunRecord) -> bool:
    """The run's validation result shows that the inputs predict the labels."""
    if ev.n_classes is not None:
        return signal_p(ev, run) < SIGNAL_P
    return math.isfinite(run.val_final) and run.val_final <= REGRESSION_SIGNAL * ev.val_chance


def signal_run(ev: Evidence) -> RunRecord | None:
    """A run on the real labels whose validation result shows the inputs predict the labels."""
    return next((run for run in real_label_runs(ev) if shows_signal(ev, run)), None)


def settled(ev: Evidence) -> bool:
    """No probe can confirm a cause against this baseline, whatever the probes do.

    The baseline trained, ended less than MIN_GAIN of chance above a perfect fit, and its own
    validation result shows signal. Every confirmed finding needs a probe that wins at least
    MIN_GAIN of chance over the baseline, except three: label noise needs a baseline stalled at a
    larger share of chance, no learnable signal needs no run to show signal, and too few steps
    weighs the baseline against its own continuation (``more_steps``), not against a probe.
    """
    b = ev.baseline
    return trained(ev, b) and score(ev, b) < MIN_GAIN and shows_signal(ev, b)


def weight_grads(ev: Evidence) -> list[tuple[str, float | None]]:
    """The baseline's first-step gradient norm of each weight layer (linear, conv2d), input side
    first, with the layer's name; None where it was non-finite."""
    b = ev.baseline
    return [
        (layer.name, v)
        for layer, v in zip(b.layers, b.first_step_grad_norm, strict=False)
        if layer.kind in WEIGHT_KINDS
    ]


@dataclass(frozen=True)
class LayerRatio:
    """The first weight layer's gradient L2 norm over the last one's (``ratio``, unitless), the two layers'
    names, and when the norms were read (``at``: "at the first step", "at epoch 3")."""

    ratio: float
    first: str
    last: str
    at: str

    def sentence(self) -> str:
        """The ratio for a finding's evidence: "at epoch 1 the gradient norm of fc1 was 0.0001x that of fc3"."""
        return f"{self.at} the gradient norm of {self.first} was {self.ratio:.3g}x that of {self.last}"


def fmt(v: float | None) -> str:
    """A loss for a sentence: 3 significant digits, 'non-finite' for None/inf/NaN."""
    if v is None or not math.isfinite(v):
        return "non-finite"
    return f"{v:.3g}"
