"""Builders of hand-written evidence for the rule tables: numbers only, no training."""

from __future__ import annotations

import math
from typing import Any

from worker.contract.result import Check
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.record import LayerRecord, RunRecord

CHANCE = 1.0


def run(
    name: str,
    train: list[float | None],
    *,
    family: str | None = None,
    changes: dict[str, Any] | None = None,
    val: list[float | None] | None = None,
    val_acc: float | None = None,
    initial: float | None = None,
    train_acc: float | None = None,
    penalty: float = 0.0,
    param_norm: float | None = None,
    chance: float | None = None,
    fit: float | None = None,
    misfit: float | None = None,
    stop_reason: str = "completed",
    planned: int | None = None,
) -> RunRecord:
    """A run whose validation loss follows its train loss unless given."""
    val = val if val is not None else [v * 1.05 if v is not None else None for v in train]
    record = RunRecord(
        initial_loss=initial if initial is not None else (train[0] if train[0] is not None else math.nan),
        initial_val_loss=None,
        train_loss=train,
        val_loss=val,
        val_acc=[val_acc] * len(train) if val_acc is not None else [],
        train_acc=train_acc,
        penalty=[penalty] * len(train),
        param_norm=param_norm,
        stop_reason="non_finite" if any(v is None for v in train) else stop_reason,
        fit_share=fit,
        misfit_share=misfit,
    )
    return record.planned(name, family, changes or {}, planned if planned is not None else len(train), chance)


def evidence(
    baseline: RunRecord,
    probes: list[RunRecord] = (),
    *,
    checks: dict[str, Check] | None = None,
    training: dict[str, Any] | None = None,
    n_classes: int | None = 2,
    n_val: int = 100,
    val_majority: float | None = 0.5,
    grads: dict[str, float | None] | None = None,
    weights: dict[str, float | None] | None = None,
    dead: dict[str, list[float | None]] | None = None,
    layer_types: list[str] | None = None,
    custom_init: bool = False,
) -> Evidence:
    t = {"lr": 0.01, "l1": 0.0, "l2": 0.0, "weight_decay": 0.0, "batch_size": 32, "epochs": len(baseline.train_loss)}
    t.update(training or {})
    ev = Evidence(
        loss="cross_entropy",
        chance=CHANCE,
        val_chance=CHANCE,
        n_classes=n_classes,
        n_train=400,
        n_val=n_val,
        val_majority=val_majority,
        training=t,
        layer_types=layer_types or ["linear"],
        checks=checks or {},
        baseline=baseline,
        probes=list(probes),
        custom_init=custom_init,
    )
    # the instruments' numbers live on the baseline's record, as the loops put them there
    names = list(grads or weights or {})
    baseline.layers = [LayerRecord(name) for name in names]
    baseline.first_step_grad_norm = [(grads or {}).get(name) for name in names] if grads else []
    baseline.first_step_weight_norm = [(weights or {}).get(name) for name in names] if weights else []
    baseline.dead_fraction = dead or {}
    return ev


def flag(name: str, detail: str = "flagged", **numbers: Any) -> dict[str, Check]:
    return {name: Check(name=name, flagged=True, detail=detail, numbers=numbers)}
