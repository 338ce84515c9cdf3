"""A test engine whose every number is non-finite: the losses of a run that diverged everywhere."""

from __future__ import annotations

import math
from typing import Any

NAN, INF = math.nan, math.inf


def run_job(spec: Any, *, on_event: Any = None, **hooks: Any) -> dict[str, Any]:
    """A result shaped like the engine's, with NaN and infinities in every curve, summary and event."""
    if on_event is not None:
        on_event({"type": "probe_finished", "probe": "lr_x0.1", "final_loss": NAN, "done": 1, "total": 1})
    history = {"epoch": [1, 2], "train_loss": [INF, NAN], "val_loss": [NAN, -INF], "step_loss": [NAN]}
    return {
        "baseline": {"config": {"lr": 1e4}, "history": history, "layers": [{"name": "0.linear", "grad_norm": [INF]}]},
        "probes": [
            {
                "name": "lr_x0.1",
                "changes": {"training.lr": 1e3},
                "history": history,
                "summary": {"initial_loss": INF, "final_loss": NAN, "relative_decrease": -INF, "diverged": True},
            }
        ],
        "diagnosis": {
            "healthy": False,
            "primary_cause": "lr_too_high",
            "findings": [{"cause": "lr_too_high", "confidence": NAN, "evidence": ["loss became non-finite"]}],
            "summary": "every loss is non-finite",
        },
    }
