"""Probes judged within their epochs (judge windows) keep their full-length verdict.

The table ``data/probe_windows.json`` holds full-length probe curves as judge windows
(``worker.engine.train.windows``), recorded with early stopping off (``record_probe_windows.py``) from
the dev benchmark's cases, the pattern cases and the larger specs in ``data/window_cases/`` (a few
epochs over thousands of samples, healthy and with a fault each): each probe's windows beside its
baseline's, both final epoch losses and the chance loss. A probe's verdict is the rules' MIN_GAIN
comparison of its final epoch with the baseline's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.test_probe_stopping import _recovers, _share
from worker.diagnosis.rules.measures import MIN_GAIN
from worker.engine.probes.scoring import clearly_behind, rose_after
from worker.engine.train.windows import JUDGE_LOOKS, MIN_WINDOW_STEPS, window_spans, windows_per_epoch

TABLE: list[dict[str, Any]] = json.loads((Path(__file__).parent / "data" / "probe_windows.json").read_text())


def _stop(row: dict[str, Any], known: bool) -> int | None:
    """The first window count at which the rule stops the probe; ``known``: the baseline trained first."""
    b, p, w = row["baseline"], row["probe_windows"], row["per_epoch"]
    n = len(b)
    return next(
        (k for k in range(1, n) if clearly_behind(p[:k], b[:k], row["chance"], n, b[k:] if known else None, w)), None
    )


def test_the_table_holds_runs_judged_within_their_epochs() -> None:
    assert len(TABLE) >= 500 and len({r["case"] for r in TABLE}) >= 40
    within = [r for r in TABLE if r["per_epoch"] > 1]
    assert len(within) >= 250 and len({r["case"] for r in within}) >= 15
    assert sum(_recovers(r["probe_final"], r["baseline_final"], r["chance"]) for r in within) >= 20


@pytest.mark.parametrize("known", [False, True], ids=["beside the baseline", "after the baseline"])
def test_a_probe_stopped_within_its_epochs_has_its_full_length_verdict(known: bool) -> None:
    stopped, wrong, saved, total = 0, [], 0, 0
    for row in TABLE:
        b, p, c = row["baseline"], row["probe_windows"], row["chance"]
        total += len(b)
        k = _stop(row, known)
        if k is None or (not known and rose_after(b, k, c)):
            continue  # beside the baseline, a probe stopped where the baseline later rose trains again
        stopped += 1
        saved += len(b) - k
        full = _recovers(row["probe_final"], row["baseline_final"], c)
        # stopped, its record ends with the part of an epoch it trained, about its last window
        if _recovers(p[k - 1], row["baseline_final"], c) != full:
            wrong.append((row["case"], row["probe"], k))
        assert _share(p[k - 1], c) - _share(b[k - 1], c) >= -MIN_GAIN / 4
    assert wrong == []
    # it does stop probes, and early: more than half the table's windows are left untrained
    assert stopped >= len(TABLE) / 2 and saved >= total / 2


def test_no_probe_that_recovers_in_the_end_is_stopped_within_its_epochs() -> None:
    for row in TABLE:
        if _recovers(row["probe_final"], row["baseline_final"], row["chance"]):
            assert _stop(row, known=True) is None, (row["case"], row["probe"])


def test_both_loops_count_an_epoch_s_batches_alike() -> None:
    import torch

    from worker.engine.train.loop import batch_count, batch_indices

    for n, bs in [(33, 16), (34, 16), (32, 16), (1, 16), (17, 16), (5000, 128)]:
        assert batch_count(n, bs) == len(batch_indices(torch.arange(n), bs)), (n, bs)


def test_windows_split_each_epoch_evenly_with_its_end_among_them() -> None:
    assert windows_per_epoch(30, 45) == 1  # many epochs: an epoch is a window
    assert windows_per_epoch(8, 156) == JUDGE_LOOKS // 8
    assert windows_per_epoch(2, 20) == 1  # too few steps for two windows
    assert windows_per_epoch(1, 10_000) == JUDGE_LOOKS
    spans = window_spans(157, 5)
    assert spans[0][0] == 0 and spans[-1][1] == 157
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert all(hi - lo >= MIN_WINDOW_STEPS for lo, hi in spans)
