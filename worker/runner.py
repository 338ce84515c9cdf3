"""The one place probes are trained: each ``ProbeRun`` through the one loop, on its own data.

Probes never share a model: each builds its own from its spec parts and seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from worker.probes.base import ProbeOutcome, ProbeRun
from worker.probes.scoring import final_loss
from worker.train.loop import RunRecord, train
from worker.train.problem import Problem

EventSink = Callable[[dict[str, Any]], None]


def _continued(baseline: RunRecord, more: RunRecord) -> RunRecord:
    """The baseline's history followed by its continuation's, as one run."""
    more.initial_loss, more.initial_val_loss = baseline.initial_loss, baseline.initial_val_loss
    for key in ("train_loss", "val_loss", "val_acc", "penalty", "step_loss"):
        setattr(more, key, getattr(baseline, key) + getattr(more, key))
    more.seconds += baseline.seconds
    return more


def run_probes(runs: list[ProbeRun], problem: Problem, *, baseline: RunRecord, deadline: float, done: int,
               total: int, should_stop: Callable[[], bool] | None = None, on_event: EventSink | None = None
               ) -> list[ProbeOutcome]:
    """Train ``runs`` in order until ``deadline`` (monotonic seconds); report each as it starts and ends.

    ``done``/``total`` count probes across the whole job, for progress events. A run with
    ``resume`` continues the baseline (which must have kept its state) on a copy.
    """
    outcomes: list[ProbeOutcome] = []
    for run in runs:
        if time.monotonic() >= deadline:
            break
        if on_event:
            on_event({"type": "probe_started", "probe": run.name, "done": done, "total": total})
        data = run.data(problem) if run.data is not None else problem
        if run.resume:
            if baseline.state is None or baseline.stop_reason != "completed":
                continue
            record = _continued(baseline, train(run.model, run.training, data, instrumented=False,
                                                deadline=deadline, should_stop=should_stop, start=baseline.state))
        else:
            record = train(run.model, run.training, data, instrumented=False, deadline=deadline,
                           should_stop=should_stop)
        outcomes.append(ProbeOutcome(run, record, data.chance))
        done += 1
        if on_event:
            final = final_loss(record)
            on_event({"type": "probe_finished", "probe": run.name, "done": done, "total": total,
                      "final_loss": final if final != float("inf") else None, "seconds": round(record.seconds, 3)})
    return outcomes
