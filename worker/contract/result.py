"""The result of a job (CONTRACT.md, "Result"), typed: what the engine returns, the store keeps, the
routes declare and the report page reads.

    Result
    ├── baseline: Baseline     (config, history: History, layers: [Layer], summary: RunSummary, ...)
    ├── checks: [Check]
    ├── probes: [ProbeResult]  (name, family, changes, history: History, summary: RunSummary, ...)
    ├── diagnosis: Diagnosis   (healthy, primary_cause, findings: [Finding], summary, notes, ...)
    ├── timing: Timing         (seconds, device, ..., left_out: [LeftOut])
    └── data: DataSummary      (n_train, n_val, sample_shape, n_classes)

Every part has defaults and keeps unknown fields (``extra="allow"``), so a result stored by another
version still loads and is served as it was stored. Serialization writes only the fields that were
set (built by the engine, or present in the stored JSON), so optional parts such as a history's
``val_acc`` are absent rather than null. Losses are in the loss's units, seconds are wall seconds.

Non-finite floats (NaN, inf) become JSON ``null`` in exactly one place: ``Result.to_json`` (and
``as_json``, the same as plain data), which the engine's callers, the job store and the routes use.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


def _plain(value: Any) -> Any:
    """A value JSON does not know as plain data: a numpy scalar's ``item()``, an array's ``tolist()``."""
    for method in ("tolist", "item"):
        if callable(getattr(value, method, None)):
            return getattr(value, method)()
    raise TypeError(f"{type(value).__name__} is not JSON data")


class Part(BaseModel):
    """A part of the result. The engine writes every field named here (and may add more); each has a
    default so a result stored by another version is still served, never refused."""

    model_config = ConfigDict(extra="allow", ser_json_inf_nan="null")


class Finding(Part):
    """One cause with the numbers that show it."""

    cause: str | None = Field(default=None, description="a cause of CONTRACT.md, e.g. lr_too_high")
    confidence: float | None = Field(
        default=None, description="0..1, a fixed level per rule and basis (README: How sure is a diagnosis)"
    )
    evidence: list[str] = Field(default_factory=list, description="sentences that carry the numbers")
    fix: dict[str, Any] | None = Field(
        default=None, description="dotted spec paths to their new values, or advice in words"
    )
    confirmed: bool | None = Field(default=None, description="true only when an intervention recovered the loss")
    recovered: float | None = Field(
        default=None, description="share of the chance-level loss the intervention won back"
    )
    basis: Literal["intervention", "measured", "symptoms"] | None = Field(
        default=None, description="how the finding is known: an intervention, the run's own numbers, or symptoms only"
    )


class Diagnosis(Part):
    """What is wrong, how sure, and the fix."""

    model_config = ConfigDict(
        extra="allow",
        ser_json_inf_nan="null",
        json_schema_extra={
            "examples": [
                {
                    "healthy": False,
                    "primary_cause": "lr_too_high",
                    "verdict_basis": "intervention",
                    "complete": True,
                    "findings": [
                        {
                            "cause": "lr_too_high",
                            "confidence": 0.93,
                            "confirmed": True,
                            "basis": "intervention",
                            "recovered": 0.9,
                            "fix": {"training.lr": 0.05},
                            "evidence": [
                                "with lr 5 the train loss rose from 2.31 to a peak of 9.8 and ended at 7.5",
                                "the same run with lr 0.05 fell to 0.21 (chance 2.3)",
                            ],
                        }
                    ],
                    "summary": "The run is not learning because the learning rate is too high: steps overshoot. ...",
                    "notes": [],
                    "chance_loss": 2.3,
                }
            ]
        },
    )

    healthy: bool | None = None
    primary_cause: str | None = Field(default=None, description="null when healthy or inconclusive")
    findings: list[Finding] = Field(default_factory=list, description="best first")
    summary: str | None = Field(default=None, description="one paragraph in plain words")
    complete: bool | None = Field(default=None, description="whether every planned run finished")
    notes: list[str] = Field(default_factory=list)
    chance_loss: float | None = Field(default=None, description="the loss of the best constant prediction")
    verdict_basis: str | None = Field(
        default=None,
        description="intervention, measured, symptoms, trained (healthy), inconclusive, or monitor (curves)",
    )


class History(Part):
    """Per-epoch losses of one run; null where non-finite. ``val_acc`` (classification) and ``penalty``
    (an l1/l2 penalty, beside the loss) appear only when the run has them; the per-step series only in
    the baseline's history."""

    epoch: list[int] = Field(default_factory=list, description="1-based epoch of each point")
    train_loss: list[float | None] = Field(
        default_factory=list, description="mean over the epoch's batches of the data loss alone"
    )
    val_loss: list[float | None] = Field(default_factory=list, description="validation loss after each epoch")
    val_acc: list[float | None] | None = Field(default=None, description="validation accuracy after each epoch, 0..1")
    penalty: list[float | None] | None = Field(default=None, description="mean l1/l2 penalty of each epoch")
    step_loss: list[float | None] | None = Field(default=None, description="each step's batch loss (thinned to 2000)")
    grad_norm: list[float | None] | None = Field(default=None, description="global gradient L2 norm per measured step")
    update_ratio: list[float | None] | None = Field(
        default=None, description="largest |update|/|weight| per measured step"
    )


class Layer(Part):
    """One layer with parameters in the baseline, per epoch; null where non-finite."""

    name: str | None = Field(default=None, description='"<index>.<kind>", e.g. "0.linear"')
    grad_norm: list[float | None] = Field(default_factory=list, description="mean gradient L2 norm per epoch")
    update_ratio: list[float | None] = Field(default_factory=list, description="mean update ratio per epoch")
    dead_fraction: list[float | None] = Field(
        default_factory=list, description="share of dead units of the ReLU it feeds, at init and after each epoch"
    )
    activation: str | None = Field(default=None, description="the ReLU it feeds, when it feeds one")


class RunSummary(Part):
    """One run in a few numbers; losses null where non-finite."""

    initial_loss: float | None = Field(default=None, description="train loss before any step")
    final_loss: float | None = Field(default=None, description="last epoch's train loss")
    relative_decrease: float | None = Field(default=None, description="(initial - final) / initial")
    diverged: bool | None = Field(default=None, description="non-finite, or the loss rose well above where it started")
    final_val_loss: float | None = None
    best_val_loss: float | None = None
    final_val_acc: float | None = None
    epochs_run: int | None = Field(
        default=None, description="epochs trained; a probe stopped within an epoch counts that epoch's part as one"
    )
    steps_run: int | None = Field(default=None, description="optimizer steps trained")
    fit_share: float | None = Field(default=None, description="share of training samples fit at the end")
    misfit_share: float | None = Field(default=None, description="share of training samples misfit at the end")


class Baseline(Part):
    """The spec's run as given, instrumented."""

    config: dict[str, Any] | None = Field(default=None, description="the spec's training as run")
    history: History | None = None
    layers: list[Layer] = Field(default_factory=list, description="per layer with parameters")
    summary: RunSummary | None = None
    chance_loss: float | None = Field(default=None, description="the loss of the best constant prediction")
    trainable_params: int | None = None
    stop_reason: str | None = Field(default=None, description="completed, non_finite or deadline")
    seconds: float | None = None


class Check(Part):
    """A pre-training check: whether it flagged a problem, in words and numbers."""

    name: str | None = None
    flagged: bool | None = None
    detail: str | None = None
    numbers: dict[str, Any] = Field(default_factory=dict)


class ProbeResult(Part):
    """A controlled variant of the baseline that changed one thing (or two, for `combination`)."""

    name: str | None = None
    family: str | None = None
    changes: dict[str, Any] | None = Field(
        default=None, description="dotted spec paths to the values the probe ran with"
    )
    history: History | None = None
    summary: RunSummary | None = None
    stop_reason: str | None = Field(
        default=None,
        description=(
            "completed, non_finite, deadline, settled (baseline settled), behind (clearly not recovering) or "
            "answered (shuffled_labels: the baseline showed signal, which rules out no_learnable_signal)"
        ),
    )
    seconds: float | None = None


class LeftOut(Part):
    """A run the budget cut short (``why`` ``cut``, with its epochs) or never started (``skipped``)."""

    name: str | None = None
    why: Literal["cut", "skipped"] | None = None
    epochs_run: int | None = None
    epochs_planned: int | None = None

    def said(self) -> str:
        """In words: ``lr_x0.1 (3 of 20 epochs)``, ``reseed_1 (not run)``."""
        if self.why == "skipped":
            return f"{self.name} (not run)"
        return f"{self.name} ({self.epochs_run} of {self.epochs_planned} epochs)"


class Timing(Part):
    """Where the job's time went."""

    seconds: float | None = Field(default=None, description="the job's wall seconds")
    device: str | None = None
    probes_run: int | None = None
    probes_skipped_for_budget: int | None = None
    probes_stopped_settled: int | None = None
    probes_stopped_behind: int | None = Field(
        default=None, description="probes stopped clearly behind the baseline at the same step"
    )
    probes_stopped_answered: int | None = Field(
        default=None, description="probes stopped because the baseline answered their question (shuffled_labels)"
    )
    budget_seconds: float | None = None
    left_out: list[LeftOut] = Field(default_factory=list)


class DataSummary(Part):
    """The data the job trained on, after the validation split."""

    n_train: int | None = None
    n_val: int | None = None
    sample_shape: list[int] = Field(default_factory=list)
    n_classes: int | None = None


class Result(Part):
    """The result of a succeeded job (CONTRACT.md, "Result")."""

    baseline: Baseline | None = None
    checks: list[Check] = Field(default_factory=list, description="each pre-check: name, flagged, detail")
    probes: list[ProbeResult] = Field(default_factory=list)
    diagnosis: Diagnosis | None = None
    timing: Timing | None = None
    data: DataSummary | None = None

    def to_json(self) -> str:
        """Strict JSON text (RFC 8259) of the fields set: every NaN or infinity is ``null``, and an array
        library's scalar or array (a check's numbers) is written as the Python number or list it holds."""
        return self.model_dump_json(exclude_unset=True, fallback=_plain)

    def as_json(self) -> dict[str, Any]:
        """``to_json`` as plain data (dicts, lists, str, int, float, bool, None)."""
        value: dict[str, Any] = json.loads(self.to_json())
        return value

    @classmethod
    def of(cls, value: Result | dict[str, Any]) -> Result:
        """``value`` as a Result: itself, or a result dict (stored, or from an engine that returns dicts)."""
        return value if isinstance(value, Result) else cls.model_validate(value)
