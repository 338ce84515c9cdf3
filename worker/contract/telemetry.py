"""What ``lossdoctor.Monitor`` records about a team's own training loop, and sends to ``/v1/runs``.

Torch-free: the service validates telemetry with these models and ``worker.diagnosis.monitor_rules`` diagnoses
it; the monitor builds the same records from torch tensors. Unknown fields are errors, as in the job spec.

``MonitorSetup`` is read once, when the monitor is built: how the optimizer's parameters relate to the
model's. ``StepRecord`` is one ``monitor.step(loss)`` call, i.e. one optimizer step: the interval since
the previous call (its backward passes, the gradients they met) and, on *sampled* steps (the first
``warmup`` steps and every ``every``-th after), the heavier readings: gradient norms, update-to-weight
ratios, which parameters changed, dead ReLU units. Non-finite numbers are ``null``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from worker.contract.spec import Strict

#: Most names listed in one field (parameters without a gradient, unchanged, …).
MAX_NAMES = 50
#: Most layers in one step record.
MAX_LAYERS = 1000
#: Where the loss passed to ``monitor.step`` came from: computed from the model (``graph``), a leaf tensor
#: (``torch.tensor(loss.item(), requires_grad=True)``, ``loss.detach().requires_grad_()``), a tensor that
#: does not require grad (``loss.detach()``), or a plain number (``loss.item()``).
LossGraph = Literal["graph", "leaf", "no_grad", "number"]
Name = str


class LayerReading(Strict):
    """One module's reading on a sampled step: gradient L2 norm, update-to-weight ratio, dead ReLU share."""

    name: Name = Field(max_length=300)
    grad_norm: float | None = Field(None, ge=0.0)
    update_ratio: float | None = Field(None, ge=0.0)
    dead_fraction: float | None = Field(None, ge=0.0, le=1.0)


class StepRecord(Strict):
    """One optimizer step of the monitored loop (see the module docstring)."""

    step: int = Field(ge=1, description="1-based count of monitor.step calls")
    loss: float | None = Field(None, description="the loss passed to monitor.step; null when non-finite")
    loss_graph: LossGraph = "graph"
    backward_passes: int = Field(0, ge=0, description="backward passes that reached the model since the last step")
    cleared_passes: int = Field(0, ge=0, description="of those, how many found the gradients cleared (None or 0)")
    params_with_grad: int = Field(0, ge=0, description="trainable model tensors that received a gradient")
    optimizer_steps: int | None = Field(
        None,
        ge=0,
        description="optimizer.step() calls since the last record "
        "(null: the optimizer cannot tell); 0: the optimizer never stepped",
    )
    sampled: bool = False
    grad_norm: float | None = Field(None, ge=0.0, description="L2 norm of all model gradients (sampled steps)")
    grad_finite: bool | None = None
    update_ratio: float | None = Field(None, ge=0.0, description="||w_after - w_before|| / ||w_before||")
    changed: int | None = Field(None, ge=0, description="trainable model tensors whose values changed")
    without_grad: list[Name] = Field(default_factory=list, max_length=MAX_NAMES)
    unchanged: list[Name] = Field(
        default_factory=list, max_length=MAX_NAMES, description="tensors that received a gradient but did not change"
    )
    lr: float | None = Field(None, description="the largest lr of the optimizer's parameter groups")
    layers: list[LayerReading] = Field(default_factory=list, max_length=MAX_LAYERS)


class MonitorSetup(Strict):
    """The model's trainable parameters against the optimizer's, read when the monitor is built."""

    optimizer: str = Field("", max_length=200, description="the optimizer's class name")
    model_tensors: int = Field(ge=0, description="trainable parameter tensors of the model")
    model_values: int = Field(ge=0)
    frozen_tensors: int = Field(0, ge=0, description="model parameters with requires_grad False")
    optimizer_tensors: int = Field(ge=0)
    optimizer_values: int = Field(ge=0)
    shared_tensors: int = Field(ge=0, description="trainable model tensors the optimizer holds (the same objects)")
    foreign_tensors: int = Field(0, ge=0, description="optimizer tensors that are not the model's")
    foreign_match_model: bool = Field(False, description="the foreign tensors have the model's shapes: a copy of it")
    not_in_optimizer: list[Name] = Field(default_factory=list, max_length=MAX_NAMES)
    lrs: list[float] = Field(default_factory=list, max_length=MAX_LAYERS)
    relu_layers: list[Name] = Field(default_factory=list, max_length=MAX_LAYERS)
    every: int = Field(10, ge=1)
    warmup: int = Field(10, ge=0)
