"""How well a run trained, as one number the probes and rules compare (lower is better)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from worker.diagnosis.rules.measures import MIN_GAIN, SCORE_CAP, share_of_chance
from worker.engine.train.loop import RunRecord
from worker.engine.train.problem import Problem


def final_loss(rec: RunRecord) -> float:
    """The last epoch's mean train loss; inf when it went non-finite or never ran."""
    if not rec.train_loss or rec.train_loss[-1] is None or rec.stop_reason == "non_finite":
        return math.inf
    return float(rec.train_loss[-1])


def run_score(rec: RunRecord, problem: Problem) -> float:
    """Final train loss as a share of chance, as the rules score a run: 0 fits perfectly, 1 is a
    constant guess, inf diverged."""
    return share_of_chance(final_loss(rec), problem.chance)


#: A probe is judged only once it has trained this share of its planned epochs...
JUDGE_SHARE = 0.1
#: ...and at least this many epochs, so that its curve has a shape to read.
JUDGE_MIN_EPOCHS = 2
#: Families whose verdict is "recovers or not" against the baseline only (``recovers``), so a probe
#: that clearly does not recover may stop early. Reseed is one: no rule reads a spread between seeds,
#: only whether another seed recovers the loss. Not: shuffled labels and overfit batch (their own
#: comparisons), more_steps (a continuation).
JUDGED_FAMILIES = frozenset(
    {
        "lr_sweep",
        "standard_init",
        "no_regularization",
        "standardize_inputs",
        "grad_clip",
        "larger_batch",
        "smaller_batch",
        "relu_activation",
        "batchnorm",
        "bigger_model",
        "fix_output",
        "unfreeze",
        "combination",
        "reseed",
    }
)
#: Families whose question is moot once a run on the real labels shows signal: shuffled labels tell
#: "no learnable signal" from a broken pipeline, and that rule names nothing while any run on the real
#: labels shows signal (``worker.diagnosis.rules.no_learnable_signal``). Beside a baseline that shows
#: signal at an epoch end they stop (``stop_reason`` ``answered``), and train on should it end without.
ANSWERED_BY_SIGNAL = frozenset({"shuffled_labels"})


def _capped_share(loss: float | None, chance: float) -> float:
    """A loss as a share of chance, as the rules cap it: non-finite and above SCORE_CAP count as SCORE_CAP."""
    if loss is None:
        return SCORE_CAP
    return min(share_of_chance(loss, chance), SCORE_CAP)


def clearly_behind(
    probe: Sequence[float | None],
    baseline: Sequence[float | None],
    chance: float | None,
    epochs: int,
    later: Sequence[float | None] | None = None,
    span: int = 1,
) -> bool:
    """Whether a probe clearly does not recover the loss against the baseline: it may stop now.

    ``probe``: its per-epoch train losses so far (k epochs); ``baseline``: the baseline's at the
    same epochs (at least k; compared at the same epoch, never with its final loss); ``chance``:
    the chance loss both are measured against; ``epochs``: the probe's planned epochs;
    ``later``: the baseline's epochs after k when they are known already. The same holds for
    judge windows (``worker.engine.train.windows``) in place of epochs: ``span`` is then the windows
    of one epoch, over which a pace is read (a window's mean is noisier than an epoch's).

    The rules confirm a cause when a probe ends MIN_GAIN of chance ahead of the baseline. In
    shares of chance, capped as the rules cap them, let ``gap_i`` = probe_i - baseline_i (positive:
    the probe is behind). It stops when, after at least JUDGE_SHARE of its epochs (and
    JUDGE_MIN_EPOCHS), both are below SCORE_CAP at epoch k (above it the rules tell no difference),
    it is level with or behind the baseline (``gap_k >= -MIN_GAIN / 4``), and
    even closing the gap at its fastest pace over the latter half of its curve (the largest mean
    closing per point over ``span`` consecutive points, fewer when the half is shorter) for every
    remaining epoch it would end less than MIN_GAIN / 2 ahead; and, when the baseline's later
    epochs are known, the baseline does not end worse than it was at epoch k by more than
    MIN_GAIN / 4 (a baseline that rises later could be beaten by a probe level with it now).
    """
    k = len(probe)
    if k < max(JUDGE_MIN_EPOCHS, math.ceil(JUDGE_SHARE * epochs)) or k >= epochs or len(baseline) < k:
        return False
    c = chance if chance and math.isfinite(chance) and chance > 0 else 1.0
    if probe[-1] is None:
        return False  # a non-finite run leaves by itself
    if max(_capped_share(probe[-1], c), _capped_share(baseline[k - 1], c)) >= SCORE_CAP:
        return False  # above the cap the rules see no difference, though one may still come down
    gaps = [_capped_share(p, c) - _capped_share(b, c) for p, b in zip(probe, baseline[:k], strict=True)]
    if gaps[-1] < -MIN_GAIN / 4:
        return False
    half = gaps[(k - 1) // 2 :]
    s = max(1, min(span, len(half) - 1))
    rate = max([0.0, *((half[i] - half[i + s]) / s for i in range(len(half) - s))])
    if gaps[-1] - rate * (epochs - k) > -MIN_GAIN / 2:
        return not later or not rose_after([*baseline[:k], *later], k, c)
    return False


def rose_after(baseline: Sequence[float | None], epochs: int, chance: float | None) -> bool:
    """The baseline ended more than MIN_GAIN / 4 of chance worse than it was after ``epochs``
    epochs: a probe judged level with it there (``clearly_behind``) must train on to be judged."""
    if not baseline or epochs < 1 or epochs > len(baseline):
        return False
    c = chance if chance and math.isfinite(chance) and chance > 0 else 1.0
    return _capped_share(baseline[-1], c) - _capped_share(baseline[epochs - 1], c) > MIN_GAIN / 4
