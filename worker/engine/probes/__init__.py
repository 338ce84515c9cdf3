"""Probes: controlled variants of the baseline, each changing one thing. One family per file.

``PROBES`` is the explicit registry; it is built from the families' own
``name`` and its keys are the contract's probe names (``worker.contract.vocabulary.ProbeName``), in order.
"""

from __future__ import annotations

from typing import cast

from worker.contract.vocabulary import ProbeName
from worker.engine.probes.base import Probe, ProbeContext, ProbeOutcome, ProbeRun
from worker.engine.probes.batchnorm import BatchNormProbe
from worker.engine.probes.bigger_model import BiggerModel
from worker.engine.probes.combination import Combination
from worker.engine.probes.drop_non_finite import DropNonFinite
from worker.engine.probes.fix_output import FixOutput
from worker.engine.probes.grad_clip import GradClip
from worker.engine.probes.larger_batch import LargerBatch
from worker.engine.probes.lr_sweep import LrSweep
from worker.engine.probes.more_steps import MoreSteps
from worker.engine.probes.no_regularization import NoRegularization
from worker.engine.probes.overfit_batch import OverfitBatch
from worker.engine.probes.relu_activation import ReluActivation
from worker.engine.probes.reseed import Reseed
from worker.engine.probes.shuffled_labels import ShuffledLabels
from worker.engine.probes.smaller_batch import SmallerBatch
from worker.engine.probes.standard_init import StandardInit
from worker.engine.probes.standardize_inputs import StandardizeInputs
from worker.engine.probes.unfreeze import Unfreeze

#: Every probe family, in the order "auto" considers them; each says its own name (``Probe.name``).
_FAMILIES: tuple[Probe, ...] = (
    LrSweep(),
    StandardInit(),
    NoRegularization(),
    StandardizeInputs(),
    ShuffledLabels(),
    OverfitBatch(),
    BiggerModel(),
    MoreSteps(),
    ReluActivation(),
    BatchNormProbe(),
    GradClip(),
    FixOutput(),
    Unfreeze(),
    DropNonFinite(),
    SmallerBatch(),
    Reseed(),
    LargerBatch(),
    Combination(),
)
PROBES: dict[ProbeName, Probe] = {cast(ProbeName, p.name): p for p in _FAMILIES}

__all__ = ["PROBES", "Probe", "ProbeContext", "ProbeOutcome", "ProbeRun"]
