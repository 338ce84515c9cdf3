"""Probes: controlled variants of the baseline, each changing one thing. One family per file.

``PROBES`` is the explicit registry; its keys are the contract's probe names (``worker.spec.ProbeName``).
"""

from __future__ import annotations

from worker.probes.base import Probe, ProbeContext, ProbeOutcome, ProbeRun
from worker.probes.batchnorm import BatchNormProbe
from worker.probes.bigger_model import BiggerModel
from worker.probes.combination import Combination
from worker.probes.drop_non_finite import DropNonFinite
from worker.probes.fix_output import FixOutput
from worker.probes.grad_clip import GradClip
from worker.probes.larger_batch import LargerBatch
from worker.probes.lr_sweep import LrSweep
from worker.probes.more_steps import MoreSteps
from worker.probes.no_regularization import NoRegularization
from worker.probes.overfit_batch import OverfitBatch
from worker.probes.relu_activation import ReluActivation
from worker.probes.reseed import Reseed
from worker.probes.shuffled_labels import ShuffledLabels
from worker.probes.smaller_batch import SmallerBatch
from worker.probes.standard_init import StandardInit
from worker.probes.standardize_inputs import StandardizeInputs
from worker.probes.unfreeze import Unfreeze

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
