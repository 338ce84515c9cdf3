"""One training run's record: what the loops append to, and what the rules read, in one type.

Plain floats and lists, no torch: the plain loop (``worker.engine.train.loop``) and the stack
(``worker.engine.batched.train``) append to it epoch by epoch; when the engine gathers the evidence it
names each run from its plan (``RunRecord.planned``), and the rules and measures read the same objects
through ``Evidence``: nothing is copied into a second type.
Losses are the data loss in the loss's units; None stands for a non-finite value (the result's JSON
writes it as null). Per-epoch series hold one value per completed epoch; per-step series hold one
value per instrumented step, thinned to at most ``MAX_STEP_POINTS`` (see the loop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

#: Why a run ended: all planned epochs ran, its loss went non-finite, the budget's deadline came, or
#: it stopped early (``worker.engine.batched.train``): the baseline's verdict was settled, the probe was
#: clearly behind the baseline, or its question was answered (the baseline showed signal).
StopReason = Literal["completed", "non_finite", "deadline", "settled", "behind", "answered"]

#: The layer kinds whose weights are matrices (linear maps, convolutions).
WEIGHT_KINDS = ("linear", "conv2d")


@dataclass
class LayerRecord:
    """One layer that owns parameters, as the baseline's instruments saw it.

    ``name`` is ``"<index>.<kind>"`` (``"0.linear"``; for an ONNX model the node's index and kind).
    ``grad_norm``: its gradient L2 norm averaged over each epoch's measured steps; ``update_ratio``:
    its largest |update| / |weight| per epoch, averaged the same way. None where non-finite.
    """

    name: str
    grad_norm: list[float | None] = field(default_factory=list)
    update_ratio: list[float | None] = field(default_factory=list)

    @property
    def index(self) -> int:
        """The layer's (or ONNX node's) position in the model."""
        return int(self.name.split(".", 1)[0])

    @property
    def kind(self) -> str:
        """The layer's type: ``linear``, ``conv2d``, ``batchnorm``, ``embedding``, ..."""
        return self.name.split(".", 1)[1]


def index_of(name: str) -> int:
    """The layer index in an activation's or layer's result name (``"1.relu"`` -> 1)."""
    return int(name.split(".", 1)[0])


@dataclass
class RunRecord:
    """What one training run measured, and (once planned) which run it is.

    The loops set the measured fields; ``planned`` sets the run's identity from its plan: ``name``, ``family``
    (None for the baseline), ``changes`` (dotted spec paths to new values), ``epochs_planned`` and
    ``chance`` (the chance-level loss of the data the run trained on, when it differs from the job's).
    Instrument fields (``layers``, ``step_grad_norm``, ``first_step_*``, ``dead_fraction``,
    ``saturation``) are filled for the instrumented baseline only.
    """

    initial_loss: float | None  # mean loss on the training split before any step
    initial_val_loss: float | None  # the same on the validation split
    train_loss: list[float | None] = field(default_factory=list)  # per epoch: mean over its batches
    val_loss: list[float | None] = field(default_factory=list)  # per epoch, after it
    val_acc: list[float | None] = field(default_factory=list)  # per epoch, share 0..1 (classification)
    penalty: list[float | None] = field(default_factory=list)  # per epoch: mean l1/l2 penalty, beside the loss
    step_loss: list[float | None] = field(default_factory=list)  # per step: the batch's data loss
    # per judge window (an epoch, or an even share of one; ``worker.engine.probes.scoring.window_spans``):
    # the mean data loss over its batches, and the steps trained when it ended
    window_loss: list[float | None] = field(default_factory=list)
    window_ends: list[int] = field(default_factory=list)
    steps_run: int = 0  # optimizer steps trained (a run stopped within an epoch counts that epoch's part)
    step_grad_norm: list[float | None] = field(default_factory=list)  # per measured step: global gradient L2 norm
    step_update_ratio: list[float | None] = field(default_factory=list)  # per measured step: largest update ratio
    layers: list[LayerRecord] = field(default_factory=list)
    first_step_grad_norm: list[float | None] = field(default_factory=list)  # per layer (``layers`` order)
    first_step_weight_norm: list[float | None] = field(default_factory=list)  # per layer, before the first step
    dead_fraction: dict[str, list[float | None]] = field(default_factory=dict)  # ReLU name -> share dead, per look
    saturation: dict[str, list[float | None]] = field(default_factory=dict)  # sigmoid/tanh name -> share saturated
    train_acc: float | None = None  # accuracy on the training split at the end (classification)
    fit_share: float | None = None  # share of training samples fit at the end (see the loop's fit_shares)
    misfit_share: float | None = None  # share of training samples misfit at the end
    trainable_params: int = 0
    stop_reason: StopReason = "completed"
    seconds: float = 0.0  # wall seconds the run trained (a stack's time shared among its members)
    param_norm: float | None = None  # L2 norm of all parameters at the end
    state: Any = None  # the engine's end state (a ``TrainState``) to continue from; opaque here
    name: str = "baseline"
    family: str | None = None
    changes: dict[str, Any] = field(default_factory=dict)
    epochs_planned: int = 0
    chance: float | None = None

    def planned(
        self,
        name: str,
        family: str | None,
        changes: dict[str, Any],
        epochs: int,
        chance: float | None = None,
    ) -> RunRecord:
        """Say which run this is (see the class docstring); returns the record itself."""
        self.name, self.family, self.changes = name, family, changes
        self.epochs_planned, self.chance = epochs, chance
        return self

    @property
    def initial(self) -> float | None:
        """The loss on the training split before any step (``initial_loss``)."""
        return self.initial_loss

    @property
    def nonfinite(self) -> bool:
        """The loss went non-finite and the run stopped there."""
        return self.stop_reason == "non_finite"

    @property
    def cut_short(self) -> bool:
        """The budget stopped the run before its planned epochs: its numbers describe part of it."""
        return self.stop_reason == "deadline" and len(self.train_loss) < self.epochs_planned

    @property
    def final(self) -> float:
        """Last epoch's train loss; inf when non-finite."""
        if self.nonfinite or not self.train_loss or self.train_loss[-1] is None:
            return math.inf
        return float(self.train_loss[-1])

    @property
    def val_final(self) -> float:
        """Last epoch's validation loss; inf when non-finite or absent."""
        if not self.val_loss or self.val_loss[-1] is None:
            return math.inf
        return float(self.val_loss[-1])

    @property
    def val_best(self) -> float:
        """The lowest validation loss of any epoch; inf when none was finite."""
        vals = [v for v in self.val_loss if v is not None]
        return min(vals) if vals else math.inf

    @property
    def val_acc_final(self) -> float | None:
        """Last epoch's validation accuracy (classification), else None."""
        return self.val_acc[-1] if self.val_acc else None

    @property
    def peak(self) -> float:
        """The largest epoch loss (inf if any was non-finite)."""
        if self.nonfinite or any(v is None for v in self.train_loss):
            return math.inf
        return max((float(v) for v in self.train_loss if v is not None), default=math.inf)

    def first_step_grads(self) -> dict[str, float | None]:
        """Each layer's gradient L2 norm at the first step, by layer name (empty when no step was measured)."""
        return {layer.name: v for layer, v in zip(self.layers, self.first_step_grad_norm, strict=False)}

    def first_step_weights(self) -> dict[str, float | None]:
        """Each layer's weight L2 norm before the first step, by layer name (empty when not measured)."""
        return {layer.name: v for layer, v in zip(self.layers, self.first_step_weight_norm, strict=False)}
