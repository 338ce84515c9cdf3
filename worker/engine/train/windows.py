"""The judge windows of a run: the points at which a probe is compared with the baseline at the same step.

A run is cut into windows of about equal steps, each epoch's end a window's end; a window's loss is
the mean data loss over its batches (``RunRecord.window_loss``). With one window per epoch, a
window's loss is the epoch's train loss. Stdlib only: both training loops and the judge use it.
"""

from __future__ import annotations

#: A run is judged at up to this many points, spread evenly over its steps with each epoch's end among
#: them, so that a run of few epochs over many samples is judged within its epochs too...
JUDGE_LOOKS = 40
#: ...each at least this many steps after the one before.
MIN_WINDOW_STEPS = 16


def windows_per_epoch(epochs: int, steps: int) -> int:
    """Judge windows per epoch of a run of ``epochs`` epochs of ``steps`` steps: JUDGE_LOOKS in all at
    most, each of MIN_WINDOW_STEPS steps at least, one per epoch at least."""
    return max(1, min(JUDGE_LOOKS // max(epochs, 1), steps // MIN_WINDOW_STEPS))


def window_spans(steps: int, per_epoch: int) -> list[tuple[int, int]]:
    """The judge windows of one epoch of ``steps`` steps, as (first step, end step) pairs."""
    ends = [round((j + 1) * steps / per_epoch) for j in range(per_epoch)]
    return list(zip([0, *ends[:-1]], ends, strict=True))
