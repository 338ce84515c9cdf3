"""Instruments: what the training loop measures besides the loss, one quantity per file.

Every instrument has the same hooks (see ``base.Instrument``) and receives its inputs; the loop
calls them in order. ``INSTRUMENTS`` is the explicit registry the baseline run uses,
keyed by the contract's instrument names (``worker.contract.vocabulary.InstrumentName``).
"""

from __future__ import annotations

from typing import cast

from worker.contract.vocabulary import InstrumentName
from worker.engine.instruments.base import Instrument, StepView
from worker.engine.instruments.dead_units import DeadUnits
from worker.engine.instruments.grad_norm import GradNorm
from worker.engine.instruments.saturation import Saturation
from worker.engine.instruments.update_ratio import UpdateRatio

#: Every instrument, in the order the loop calls them; each class says its own name (``Instrument.name``).
_INSTRUMENTS: tuple[type[Instrument], ...] = (GradNorm, UpdateRatio, DeadUnits, Saturation)
INSTRUMENTS: dict[InstrumentName, type[Instrument]] = {cast(InstrumentName, cls.name): cls for cls in _INSTRUMENTS}

#: Layer kinds whose outputs the instruments look at after each epoch.
WATCHED_KINDS = ("relu", "sigmoid", "tanh")

__all__ = ["INSTRUMENTS", "WATCHED_KINDS", "Instrument", "StepView"]
