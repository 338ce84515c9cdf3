"""Instruments: what the training loop measures besides the loss, one quantity per file.

Every instrument has the same hooks (see ``base.Instrument``) and receives its inputs; the loop
calls them in order. ``INSTRUMENTS`` is the explicit registry the baseline run uses.
"""

from __future__ import annotations

from worker.engine.instruments.base import Instrument, StepView
from worker.engine.instruments.dead_units import DeadUnits
from worker.engine.instruments.grad_norm import GradNorm
from worker.engine.instruments.saturation import Saturation
from worker.engine.instruments.update_ratio import UpdateRatio

INSTRUMENTS: dict[str, type[Instrument]] = {
    "grad_norm": GradNorm,
    "update_ratio": UpdateRatio,
    "dead_fraction": DeadUnits,
    "saturation": Saturation,
}

#: Layer kinds whose outputs the instruments look at after each epoch.
WATCHED_KINDS = ("relu", "sigmoid", "tanh")

__all__ = ["INSTRUMENTS", "WATCHED_KINDS", "Instrument", "StepView"]
