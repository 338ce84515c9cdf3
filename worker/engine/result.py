"""Turning training records into evidence for the rules and into the contract's result object."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from worker.contract.spec import JobSpec
from worker.data import Split
from worker.diagnosis.diagnose import diagnose
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.record import RunRecord, index_of
from worker.diagnosis.rules.measures import MIN_GAIN, diverged
from worker.engine.checks import CheckResult
from worker.engine.model.names import layer_types
from worker.engine.probes import ProbeOutcome
from worker.engine.probes.standard_init import custom_init
from worker.engine.train.problem import Problem


def build_evidence(
    spec: JobSpec,
    problem: Problem,
    parts: Split,
    checks: dict[str, CheckResult],
    baseline: RunRecord,
    outcomes: list[ProbeOutcome],
) -> Evidence:
    majority = None
    if problem.n_classes is not None:
        y = problem.y_val[problem.y_val >= 0]
        majority = float(torch.bincount(y).max()) / len(y) if len(y) else None
    elif problem.binary:
        y = problem.y_val[torch.isfinite(problem.y_val)]
        ones = float((y > 0.5).double().mean()) if y.numel() else None
        majority = max(ones, 1.0 - ones) if ones is not None else None
    return Evidence(
        loss=problem.loss,
        chance=problem.chance,
        val_chance=problem.val_chance,
        n_classes=2 if problem.binary else problem.n_classes,
        n_train=problem.n_train,
        n_val=int(problem.x_val.shape[0]),
        val_majority=majority,
        training=spec.training.model_dump(),
        layer_types=layer_types(spec.model),
        checks={k: c.as_dict() for k, c in checks.items()},
        baseline=baseline.planned("baseline", None, {}, spec.training.epochs),
        probes=[
            o.record.planned(o.run.name, o.run.family, o.run.changes, o.run.training.epochs, o.chance) for o in outcomes
        ],
        custom_init=custom_init(spec.model),
    )


def clean(value: Any) -> Any:
    """Recursively replace non-finite floats by None and numpy scalars by Python numbers."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _history(rec: RunRecord, full: bool) -> dict[str, Any]:
    h: dict[str, Any] = {
        "epoch": list(range(1, len(rec.train_loss) + 1)),
        "train_loss": rec.train_loss,
        "val_loss": rec.val_loss,
    }
    if any(a is not None for a in rec.val_acc):
        h["val_acc"] = rec.val_acc
    if any(p for p in rec.penalty):
        h["penalty"] = rec.penalty
    if full:
        h.update(
            step_loss=rec.step_loss,
            grad_norm=rec.step_grad_norm,
            update_ratio=rec.step_update_ratio,
        )
    return h


def _layers(rec: RunRecord) -> list[dict[str, Any]]:
    """Per-layer series; each ReLU's dead fraction joins the weight layer that feeds it."""
    layers: list[dict[str, Any]] = [
        {"name": layer.name, "grad_norm": layer.grad_norm, "update_ratio": layer.update_ratio} for layer in rec.layers
    ]
    for relu, series in rec.dead_fraction.items():
        feeding = [out for out, layer in zip(layers, rec.layers, strict=True) if layer.index < index_of(relu)]
        if feeding:
            feeding[-1]["dead_fraction"] = series
            feeding[-1]["activation"] = relu
    for layer in layers:
        layer.setdefault("dead_fraction", [])
    return layers


def _summary(f: RunRecord, ev: Evidence) -> dict[str, Any]:
    initial = f.initial
    final = f.final if math.isfinite(f.final) else None
    rel = (initial - final) / initial if initial and final is not None and initial > 0 else None
    return {
        "initial_loss": initial,
        "final_loss": final,
        "relative_decrease": rel,
        "diverged": diverged(ev, f),
        "final_val_loss": f.val_final,
        "best_val_loss": f.val_best,
        "final_val_acc": f.val_acc_final,
        "epochs_run": len(f.train_loss),
        "fit_share": f.fit_share,
        "misfit_share": f.misfit_share,
    }


def build_result(
    spec: JobSpec,
    problem: Problem,
    checks: dict[str, CheckResult],
    baseline: RunRecord,
    outcomes: list[ProbeOutcome],
    ev: Evidence,
    device: torch.device,
    *,
    seconds: float,
    skipped: int,
    budget_seconds: float | None = None,
    left_out: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The contract's result object, JSON-safe.

    ``timing``: ``seconds`` the job took, ``budget_seconds`` it had, and ``left_out``: the runs the
    budget cut short (``why`` ``cut``, ``epochs_run`` of ``epochs_planned``) or never started
    (``why`` ``skipped``), by ``name``.
    """
    diagnosis = diagnose(ev, skipped=skipped)
    stopped = [len(o.record.train_loss) for o in outcomes if o.record.stop_reason == "settled"]
    result = {
        "baseline": {
            "config": spec.training.model_dump(),
            "history": _history(baseline, full=True),
            "layers": _layers(baseline),
            "summary": _summary(ev.baseline, ev),
            "chance_loss": problem.chance,
            "trainable_params": baseline.trainable_params,
            "stop_reason": baseline.stop_reason,
            "seconds": round(baseline.seconds, 3),
        },
        "checks": [c.as_dict() for c in checks.values()],
        "probes": [
            {
                "name": o.run.name,
                "family": o.run.family,
                "changes": o.run.changes,
                "history": _history(o.record, full=False),
                "summary": _summary(f, ev),
                "stop_reason": o.record.stop_reason,
                "seconds": round(o.record.seconds, 3),
            }
            for o, f in zip(outcomes, ev.probes, strict=True)
        ],
        "diagnosis": diagnosis,
        "timing": {
            "seconds": round(seconds, 3),
            "device": str(device),
            "probes_run": len(outcomes),
            "probes_skipped_for_budget": skipped,
            "probes_stopped_settled": len(stopped),
            "budget_seconds": budget_seconds,
            "left_out": list(left_out or []),
        },
        "data": {
            "n_train": problem.n_train,
            "n_val": ev.n_val,
            "sample_shape": list(problem.sample_shape),
            "n_classes": ev.n_classes,
        },
    }
    if stopped:
        when = f"{min(stopped)}" if min(stopped) == max(stopped) else f"{min(stopped)} to {max(stopped)}"
        diagnosis["notes"].append(
            f"{len(stopped)} probes stopped after {when} of their epochs: by then the baseline had trained to "
            f"within {MIN_GAIN:g}x chance of a perfect fit, with signal on the validation data, so no probe could "
            "confirm a cause any more"
        )
    return clean(result)
