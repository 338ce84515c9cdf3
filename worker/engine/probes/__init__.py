"""Probes: controlled variants of the baseline, each changing one thing. One family per file.

``PROBES`` is the explicit registry; its keys are the contract's probe names (``worker.contract.spec.ProbeName``).
"""

from __future__ import annotations

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

PROBES: dict[str, Probe] = {
    "lr_sweep": LrSweep(),
    "standard_init": StandardInit(),
    "no_regularization": NoRegularization(),
    "standardize_inputs": StandardizeInputs(),
    "shuffled_labels": ShuffledLabels(),
    "overfit_batch": OverfitBatch(),
    "bigger_model": BiggerModel(),
    "more_steps": MoreSteps(),
    "relu_activation": ReluActivation(),
    "batchnorm": BatchNormProbe(),
    "grad_clip": GradClip(),
    "fix_output": FixOutput(),
    "unfreeze": Unfreeze(),
    "drop_non_finite": DropNonFinite(),
    "smaller_batch": SmallerBatch(),
    "reseed": Reseed(),
    "larger_batch": LargerBatch(),
    "combination": Combination(),
}

__all__ = ["PROBES", "Probe", "ProbeContext", "ProbeOutcome", "ProbeRun"]
