"""Probes that clearly do not recover stop early, and their verdict is the full-length one.

The table ``data/probe_curves.json`` holds full-length probe curves recorded from diagnoses of the
dev benchmark's cases and the pattern cases (``record_probe_curves.py``): each probe's per-epoch
train loss beside its baseline's, with the chance loss. A probe's verdict is the rules' MIN_GAIN
comparison: it recovers when its final loss ends at least MIN_GAIN of chance below the baseline's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from worker.diagnosis.rules.measures import MIN_GAIN, SCORE_CAP
from worker.engine.probes.scoring import JUDGE_MIN_EPOCHS, JUDGE_SHARE, clearly_behind, rose_after

TABLE: list[dict[str, Any]] = json.loads((Path(__file__).parent / "data" / "probe_curves.json").read_text())


def _share(loss: float | None, chance: float) -> float:
    return SCORE_CAP if loss is None else min(loss / chance, SCORE_CAP)


def _recovers(probe_final: float | None, baseline_final: float | None, chance: float) -> bool:
    """The rules' MIN_GAIN comparison of a probe's last epoch with the baseline's last epoch."""
    return _share(baseline_final, chance) - _share(probe_final, chance) >= MIN_GAIN


def _stop_epoch(row: dict[str, Any], known: bool) -> int | None:
    """The first epoch count at which the rule stops the probe; ``known``: the baseline trained first."""
    b, p, e = row["baseline"], row["probe_curve"], row["epochs"]
    return next(
        (k for k in range(1, e) if clearly_behind(p[:k], b[:k], row["chance"], e, b[k:] if known else None)), None
    )


def test_the_table_is_large_enough_to_say_something() -> None:
    assert len(TABLE) >= 300 and len({r["case"] for r in TABLE}) >= 25
    families = {r["family"] for r in TABLE}
    assert {"lr_sweep", "standard_init", "no_regularization", "standardize_inputs", "grad_clip", "reseed"} <= families
    # both verdicts occur in it
    assert any(_recovers(r["probe_curve"][-1], r["baseline"][-1], r["chance"]) for r in TABLE)


@pytest.mark.parametrize("known", [False, True], ids=["beside the baseline", "after the baseline"])
def test_an_early_stopped_probe_has_its_full_length_verdict(known: bool) -> None:
    stopped, wrong = 0, []
    for row in TABLE:
        b, p, c = row["baseline"], row["probe_curve"], row["chance"]
        full = _recovers(p[-1], b[-1], c)
        k = _stop_epoch(row, known)
        if k is None:
            continue
        # beside the baseline, a probe stopped where the baseline later rose trains on to its end
        if not known and rose_after(b, k, c):
            continue
        stopped += 1
        early = _recovers(p[k - 1], b[-1], c)
        if early != full:
            wrong.append((row["case"], row["probe"], k))
        # it is never stopped while recovering: at the same epoch it is level with the baseline or behind
        assert _share(p[k - 1], c) - _share(b[k - 1], c) >= -MIN_GAIN / 4
    assert wrong == []
    # the rule does stop probes: at least a third of those in the table
    assert stopped >= len(TABLE) / 3


def test_no_probe_that_recovers_in_the_end_is_stopped() -> None:
    for row in TABLE:
        b, p, c = row["baseline"], row["probe_curve"], row["chance"]
        if _recovers(p[-1], b[-1], c):
            k = _stop_epoch(row, known=True)
            assert k is None, (row["case"], row["probe"], k)


def _curves(epochs: int, base_end: float, probe_end: float) -> tuple[list[float], list[float]]:
    steps = np.linspace(0, 1, epochs)
    return list(1.0 - (1.0 - base_end) * steps), list(1.0 - (1.0 - probe_end) * steps)


def test_a_probe_level_with_the_baseline_and_not_gaining_stops_after_a_share_of_its_epochs() -> None:
    base, probe = _curves(40, 0.5, 0.55)
    first = max(JUDGE_MIN_EPOCHS, math.ceil(JUDGE_SHARE * 40))
    assert first > JUDGE_MIN_EPOCHS
    assert not clearly_behind(probe[: first - 1], base[: first - 1], 1.0, 40)  # under JUDGE_SHARE of 40 epochs
    assert clearly_behind(probe[:first], base[:first], 1.0, 40)
    base, probe = _curves(4, 0.5, 0.55)
    k = JUDGE_MIN_EPOCHS - 1
    assert not clearly_behind(probe[:k], base[:k], 1.0, 4)  # under JUDGE_MIN_EPOCHS


def test_a_probe_ahead_or_gaining_fast_goes_on() -> None:
    base, probe = _curves(20, 0.5, 0.1)
    assert not any(clearly_behind(probe[:k], base[:k], 1.0, 20) for k in range(1, 20))
    # behind at first, then closing the gap at a pace that would take it MIN_GAIN ahead by the end
    base = [1.0 - 0.02 * i for i in range(20)]
    probe = [1.2 - 0.02 * i if i < 5 else 1.12 - 0.05 * (i - 4) for i in range(20)]
    assert not clearly_behind(probe[:8], base[:8], 1.0, 20)


def test_a_baseline_that_rises_later_keeps_a_level_probe_training() -> None:
    base = [1.0, 0.8, 0.6, 0.5, 0.45, 0.5, 0.8, 1.2, 1.4, 1.45]
    probe = [1.0, 0.8, 0.62, 0.52, 0.47, 0.46, 0.45, 0.44, 0.44, 0.43]
    assert clearly_behind(probe[:4], base[:4], 1.0, 10)  # beside it, nothing is known of its future
    assert not clearly_behind(probe[:4], base[:4], 1.0, 10, base[4:])
    assert rose_after(base, 4, 1.0) and not rose_after(base, 10, 1.0)


def test_runs_above_the_cap_or_non_finite_are_not_judged() -> None:
    base = [5.0, 4.0, 3.0, 2.5, 2.0, 1.8, 1.7, 1.6, 1.55, 1.5]
    probe = [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.2]
    assert not any(clearly_behind(probe[:k], base[:k], 1.0, 10) for k in range(1, 10))
    assert not clearly_behind([1.0, 0.9, None], [1.0, 0.8, 0.7], 1.0, 10)
