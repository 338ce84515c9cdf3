"""Record full-length probe curves window by window into the table ``test_probe_windows`` reads.

    .venv/bin/python tests/unit/record_probe_windows.py OUT.json CASE.json [CASE.json ...]

Each CASE.json holds ``{"id": ..., "spec": {...}}`` (the benchmark's case files). Each spec is
diagnosed here with early stopping turned off (no probe stops behind, answered or settled) and the
per-step losses kept whole; kept: each probe of a judged family (``JUDGED_FAMILIES``) that trained
its planned epochs on as many steps as the baseline, as judge windows (``worker.engine.train.windows``)
beside the baseline's, with both final epoch losses and the chance loss.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import worker.engine.batched.train as stacked
import worker.engine.job as job
import worker.engine.runner as runner
import worker.engine.train.loop as loop
from worker.contract.spec import JobSpec
from worker.engine.probes.scoring import JUDGED_FAMILIES
from worker.engine.train.windows import window_spans, windows_per_epoch


def _r5(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(f"{v:.5g}")


def _windows(steps: list[float | None], epochs: int) -> tuple[list[float | None], int] | None:
    """A run's per-step losses as judge windows, and the windows per epoch; None when uneven."""
    if not steps or len(steps) % epochs:
        return None
    per = len(steps) // epochs
    w = windows_per_epoch(epochs, per)
    out: list[float | None] = []
    for e in range(epochs):
        epoch = steps[e * per : (e + 1) * per]
        for lo, hi in window_spans(per, w):
            part = epoch[lo:hi]
            out.append(None if any(v is None for v in part) else sum(v for v in part if v is not None) / len(part))
    return out, w


def _full_length() -> dict[str, Any]:
    """Turn early stopping off and keep every step's loss; what run_job hands build_result is caught."""
    stacked.clearly_behind = lambda *a, **k: False  # type: ignore[assignment]
    stacked.thin = loop.thin = lambda v: v  # type: ignore[assignment]
    runner.ANSWERED_BY_SIGNAL = frozenset()  # type: ignore[misc]
    job.settled = lambda ev: False  # type: ignore[assignment]
    caught: dict[str, Any] = {}
    build = job.build_result

    def catch(spec: Any, problem: Any, checks: Any, baseline: Any, outcomes: Any, *a: Any, **k: Any) -> Any:
        caught.update(baseline=baseline, outcomes=outcomes, chance=problem.chance)
        return build(spec, problem, checks, baseline, outcomes, *a, **k)

    job.build_result = catch  # type: ignore[assignment]
    return caught


def rows(case: str, epochs: int, caught: dict[str, Any]) -> list[dict[str, Any]]:
    b = caught["baseline"]
    if b.stop_reason != "completed" or len(b.train_loss) != epochs:
        return []
    base = _windows(b.step_loss, epochs)
    if base is None:
        return []
    out = []
    for o in caught["outcomes"]:
        rec, run = o.record, o.run
        if run.family not in JUDGED_FAMILIES or rec.stop_reason != "completed" or run.training.epochs != epochs:
            continue
        if len(rec.train_loss) != epochs or len(rec.step_loss) != len(b.step_loss):
            continue
        mine = _windows(rec.step_loss, epochs)
        assert mine is not None
        out.append(
            {
                "case": case,
                "probe": run.name,
                "family": run.family,
                "chance": _r5(caught["chance"]),
                "epochs": epochs,
                "per_epoch": base[1],
                "baseline": [_r5(v) for v in base[0]],
                "probe_windows": [_r5(v) for v in mine[0]],
                "baseline_final": _r5(b.train_loss[-1]),
                "probe_final": _r5(rec.train_loss[-1]),
            }
        )
    return out


def main(argv: list[str]) -> None:
    caught = _full_length()
    table = []
    for path in argv[2:]:
        case = json.loads(Path(path).read_text())
        job.run_job(JobSpec.model_validate(case["spec"]))
        table += rows(case["id"], case["spec"]["training"]["epochs"], caught)
    Path(argv[1]).write_text(json.dumps(table) + "\n")
    print(f"{len(table)} probe curves from {len({r['case'] for r in table})} cases")


if __name__ == "__main__":
    main(sys.argv)
