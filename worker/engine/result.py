"""Turning training records into evidence for the rules and into the contract's typed ``Result``."""

from __future__ import annotations

import math

import torch

from worker.contract.result import (
    Baseline,
    Check,
    DataSummary,
    History,
    Layer,
    LeftOut,
    ProbeResult,
    Result,
    RunSummary,
    Timing,
)
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
from worker.engine.train.loop import batch_count
from worker.engine.train.problem import Problem


def _check(c: CheckResult) -> Check:
    """A pre-check's result as the contract shows it (and the rules read it)."""
    return Check(name=c.name, flagged=c.flagged, detail=c.detail, numbers=c.numbers)


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
        checks={k: _check(c) for k, c in checks.items()},
        baseline=baseline.planned("baseline", None, {}, spec.training.epochs),
        probes=[
            o.record.planned(o.run.name, o.run.family, o.run.changes, o.run.training.epochs, o.chance) for o in outcomes
        ],
        custom_init=custom_init(spec.model),
    )


def _history(rec: RunRecord, full: bool) -> History:
    """The run's per-epoch losses (``val_acc`` and ``penalty`` only when it has them); ``full`` adds the
    per-step series (the instrumented baseline). Fields left out stay unset, so its JSON has no such key."""
    optional: dict[str, list[float | None]] = {}
    if any(a is not None for a in rec.val_acc):
        optional["val_acc"] = rec.val_acc
    if any(p for p in rec.penalty):
        optional["penalty"] = rec.penalty
    if full:
        optional.update(step_loss=rec.step_loss, grad_norm=rec.step_grad_norm, update_ratio=rec.step_update_ratio)
    return History(
        epoch=list(range(1, len(rec.train_loss) + 1)), train_loss=rec.train_loss, val_loss=rec.val_loss, **optional
    )


def _layers(rec: RunRecord) -> list[Layer]:
    """Per-layer series; each ReLU's dead fraction joins the weight layer that feeds it (the last layer
    before it), which then names it as its ``activation``."""
    fed: dict[int, tuple[str, list[float | None]]] = {}
    for name, series in rec.dead_fraction.items():
        feeding = [k for k, layer in enumerate(rec.layers) if layer.index < index_of(name)]
        if feeding:
            fed[feeding[-1]] = (name, series)
    layers = []
    for k, layer in enumerate(rec.layers):
        relu, dead = fed.get(k, (None, []))
        named = {"activation": relu} if relu is not None else {}  # absent, not null, when it feeds none
        layers.append(
            Layer(
                name=layer.name, grad_norm=layer.grad_norm, update_ratio=layer.update_ratio, dead_fraction=dead, **named
            )
        )
    return layers


def _summary(f: RunRecord, ev: Evidence) -> RunSummary:
    initial = f.initial
    final = f.final if math.isfinite(f.final) else None
    rel = (initial - final) / initial if initial and final is not None and initial > 0 else None
    return RunSummary(
        initial_loss=initial,
        final_loss=final,
        relative_decrease=rel,
        diverged=diverged(ev, f),
        final_val_loss=f.val_final,
        best_val_loss=f.val_best,
        final_val_acc=f.val_acc_final,
        epochs_run=len(f.train_loss),
        steps_run=f.steps_run,
        fit_share=f.fit_share,
        misfit_share=f.misfit_share,
    )


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
    left_out: list[LeftOut] | None = None,
) -> Result:
    """The contract's result (``worker.contract.result.Result``; its ``to_json`` writes it as strict JSON).

    ``timing``: ``seconds`` the job took, ``budget_seconds`` it had, and ``left_out``: the runs the
    budget cut short (``why`` ``cut``, ``epochs_run`` of ``epochs_planned``) or never started
    (``why`` ``skipped``), by ``name``.
    """
    diagnosis = diagnose(ev, skipped=skipped)
    stopped = [len(o.record.train_loss) for o in outcomes if o.record.stop_reason == "settled"]
    behind = [o for o in outcomes if o.record.stop_reason == "behind"]
    answered = [o for o in outcomes if o.record.stop_reason == "answered"]
    result = Result(
        baseline=Baseline(
            config=spec.training.model_dump(),
            history=_history(baseline, full=True),
            layers=_layers(baseline),
            summary=_summary(ev.baseline, ev),
            chance_loss=problem.chance,
            trainable_params=baseline.trainable_params,
            stop_reason=baseline.stop_reason,
            seconds=round(baseline.seconds, 3),
        ),
        checks=[_check(c) for c in checks.values()],
        probes=[
            ProbeResult(
                name=o.run.name,
                family=o.run.family,
                changes=o.run.changes,
                history=_history(o.record, full=False),
                summary=_summary(f, ev),
                stop_reason=o.record.stop_reason,
                seconds=round(o.record.seconds, 3),
            )
            for o, f in zip(outcomes, ev.probes, strict=True)
        ],
        diagnosis=diagnosis,
        timing=Timing(
            seconds=round(seconds, 3),
            device=str(device),
            probes_run=len(outcomes),
            probes_skipped_for_budget=skipped,
            probes_stopped_settled=len(stopped),
            probes_stopped_behind=len(behind),
            probes_stopped_answered=len(answered),
            budget_seconds=budget_seconds,
            left_out=list(left_out or []),
        ),
        data=DataSummary(
            n_train=problem.n_train,
            n_val=ev.n_val,
            sample_shape=list(problem.sample_shape),
            n_classes=ev.n_classes,
        ),
    )
    if stopped:
        when = f"{min(stopped)}" if min(stopped) == max(stopped) else f"{min(stopped)} to {max(stopped)}"
        diagnosis.notes.append(
            f"{len(stopped)} probes stopped after {when} of their epochs: by then the baseline had trained to "
            f"within {MIN_GAIN:g}x chance of a perfect fit, with signal on the validation data, so no probe could "
            "confirm a cause any more"
        )
    if behind:
        shares = [_share_trained(o, problem.n_train) for o in behind]
        low, high = f"{100 * min(shares):.0f}%", f"{100 * max(shares):.0f}%"
        diagnosis.notes.append(
            f"{len(behind)} probes stopped clearly behind the baseline at the same step, after "
            f"{low if low == high else f'{low} to {high}'} of their planned steps: "
            "level with it or behind, and not gaining fast enough to end 0.2x chance ahead"
        )
    for o in answered:
        diagnosis.notes.append(
            f"{o.run.name} stopped after {o.record.steps_run} steps: the baseline showed signal on the "
            "validation data, which rules out no_learnable_signal (the question it asks)"
        )
    return result


def _share_trained(outcome: ProbeOutcome, n_train: int) -> float:
    """The share of its planned steps a probe trained."""
    planned = outcome.run.training.epochs * batch_count(n_train, min(outcome.run.training.batch_size, n_train))
    return min(1.0, outcome.record.steps_run / planned) if planned else 1.0
