"""The one training loop: a spec's model and training config on a problem, instrumented.

Every run of the service goes through ``train``: the baseline with all instruments, each probe
with the loss history only. It reads top to bottom: build, measure at init, then epochs of
shuffled mini-batches, each epoch closed by a validation pass and the instruments.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from worker.contract.spec import ModelSpec, TrainingSpec
from worker.diagnosis.record import LayerRecord, RunRecord
from worker.engine.instruments import INSTRUMENTS, WATCHED_KINDS, Instrument, StepView
from worker.engine.instruments.base import as_floats
from worker.engine.model import build_model, layer_names, param_layer_indices
from worker.engine.onnx.build import layout
from worker.engine.onnx.graph import OnnxModule
from worker.engine.train.losses import LOSSES
from worker.engine.train.optim import make_optimizer
from worker.engine.train.problem import Problem, hits, per_sample_loss
from worker.engine.train.windows import window_spans, windows_per_epoch

#: Inputs the dead-unit and saturation instruments look at after each epoch.
PROBE_BATCH = 512
#: Samples of each split the loss before any step is measured on: the splits are in a seeded random
#: order, so their first INITIAL_SAMPLES are a random sample (all of a smaller split). On a large data
#: set a full pass per run before training would cost a sizeable share of the run, for a number only
#: compared with losses far from it (moved, diverged, a peak).
INITIAL_SAMPLES = 4096
#: Points kept of a per-step series in a result; longer series are thinned evenly.
MAX_STEP_POINTS = 2_000


#: Per-step instruments look at about this many steps of a run (every k-th step, the first always).
INSTRUMENTED_STEPS = 300
#: A training sample is "fit" when its loss at the end is below this share of the chance level.
FIT_SHARE_LOSS = 0.5
#: Steps between looks at the deadline (and the cancel flag, whose poller reads Redis at most every
#: ``cancel_poll_seconds``) inside an epoch. A look costs a clock read (well under a microsecond), so
#: every step is looked at: a run of slow steps (a large model, a big stack) stops within one step of
#: the deadline instead of several.
CHECK_EVERY_STEPS = 1

#: Called after each epoch with the number of runs that trained it (1 here) and, for the
#: instrumented baseline, its record so far (None otherwise); for progress reports.
EpochSink = Callable[[int, "RunRecord | None"], None]
#: A monotonic clock in seconds; injectable so tests can run on a fake one.
Clock = Callable[[], float]


class Stopped(Exception):
    """``should_stop`` asked the loop to end (the job was cancelled)."""


@dataclass
class TrainState:
    """Where a run ended: enough to continue it (a probe copies it, never trains it in place)."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None
    generator_state: torch.Tensor


def _penalty(params: list[torch.nn.Parameter], l1: float, l2: float) -> torch.Tensor:
    """l1 * sum |p| + l2 * sum p^2 over all parameters (the contract's penalty)."""
    total = torch.zeros((), device=params[0].device)
    if l1:
        total = total + l1 * sum(p.abs().sum() for p in params)
    if l2:
        total = total + l2 * sum(p.pow(2).sum() for p in params)
    return total


def _evaluate(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[..., torch.Tensor],
    classify: str | None,
    loss: str | None = None,
) -> tuple[float | None, float | None, torch.Tensor | None]:
    """Mean loss, accuracy (classification only) and, given ``loss`` (its contract name), the
    per-sample losses [N] over ``x`` in eval mode, in chunks."""
    model.eval()
    total, correct, n = 0.0, 0, int(x.shape[0])
    each: list[torch.Tensor] = []
    with torch.no_grad():
        for i in range(0, n, 4096):
            out = model(x[i : i + 4096])
            yb = y[i : i + 4096]
            total += float(loss_fn(out, yb)) * out.shape[0]
            if classify:
                correct += int(hits(out, yb, classify).sum())
                if loss is not None:
                    each.append(per_sample_loss(loss, out, yb))
    model.train()
    mean = total / max(n, 1)
    return (
        (mean if math.isfinite(mean) else None),
        (correct / n if classify and n else None),
        torch.cat(each) if each else None,
    )


def fit_shares(each: torch.Tensor | None, chance: float) -> tuple[float | None, float | None]:
    """Share of samples fit (loss below FIT_SHARE_LOSS x chance) and misfit (loss above chance),
    from per-sample losses ``each`` [N]; a sample with a non-finite loss counts as misfit."""
    if each is None or each.numel() == 0 or not math.isfinite(chance) or chance <= 0:
        return None, None
    finite = torch.isfinite(each)
    fit = float((finite & (each < FIT_SHARE_LOSS * chance)).double().mean())
    misfit = float((~finite | (each > chance)).double().mean())
    return fit, misfit


def record_instruments(rec: RunRecord, instruments: list[Instrument], names: list[str]) -> None:
    """Put what ``instruments`` measured into ``rec``'s typed fields: per-step series (thinned), first-step
    norms, per-activation and per-layer per-epoch series. The one place instrument keys are read."""
    steps: dict[str, list[float | None]] = {}
    summary: dict[str, Any] = {}
    per_layer: dict[str, dict[str, list[float | None]]] = {name: {} for name in names}
    for ins in instruments:
        steps.update(ins.steps)
        summary.update(ins.summary())
        for name in names:
            per_layer[name].update(ins.per_layer[name])
    rec.step_grad_norm = thin(steps.get("grad_norm", []))
    rec.step_update_ratio = thin(steps.get("update_ratio", []))
    rec.first_step_grad_norm = list(summary.get("first_step_layer_grad_norm", []))
    rec.first_step_weight_norm = list(summary.get("first_step_layer_weight_norm", []))
    rec.dead_fraction = dict(summary.get("dead_fraction", {}))
    rec.saturation = dict(summary.get("saturation", {}))
    rec.layers = [
        LayerRecord(
            name=name,
            grad_norm=per_layer[name].get("grad_norm", []),
            update_ratio=per_layer[name].get("update_ratio", []),
        )
        for name in names
    ]


def batch_count(n: int, bs: int) -> int:
    """The batches of one epoch over ``n`` samples in batches of ``bs``, as ``batch_indices`` cuts them."""
    k = -(-n // bs)
    return k - 1 if k > 1 and n % bs == 1 else k


def batch_indices(perm: torch.Tensor, bs: int) -> list[torch.Tensor]:
    """Index batches of ``bs``; a last batch of one sample joins the one before (batchnorm needs two)."""
    parts = list(torch.split(perm, bs))
    if len(parts) > 1 and len(parts[-1]) == 1:
        parts[-2:] = [torch.cat(parts[-2:])]
    return parts


def thin(values: list[float | None]) -> list[float | None]:
    if len(values) <= MAX_STEP_POINTS:
        return values
    stride = len(values) / MAX_STEP_POINTS
    return [values[int(i * stride)] for i in range(MAX_STEP_POINTS)]


def model_layers(
    model: torch.nn.Module, model_spec: ModelSpec
) -> tuple[list[str], list[list[torch.nn.Parameter]], dict[int, str]]:
    """The result names of the layers with parameters, their tensors (weight first), and every layer's
    kind by index: the spec's layers, or for an uploaded ONNX model its nodes (``worker.engine.onnx.build``)."""
    if isinstance(model, OnnxModule):
        owning = layout(model)
        return (
            [f"{i}.{kind}" for i, kind, _ in owning],
            [ps for _, _, ps in owning],
            dict(enumerate(model.program.kinds())),
        )
    assert isinstance(model, torch.nn.Sequential)
    owners = param_layer_indices(model)
    all_names = layer_names(model_spec)
    return (
        [all_names[i] for i in owners],
        [list(model[i].parameters()) for i in owners],
        {i: layer.type for i, layer in enumerate(model_spec.layers)},
    )


def _start(
    model_spec: ModelSpec, t: TrainingSpec, problem: Problem, start: TrainState | None
) -> tuple[torch.nn.Module, torch.optim.Optimizer | None, torch.Generator]:
    """A fresh model, optimizer and shuffling generator, or copies of ``start`` to continue from."""
    gen = torch.Generator()
    if start is None:
        torch.manual_seed(t.seed)
        model = build_model(model_spec, problem.sample_shape, seed=t.seed).to(problem.x_train.device)
        gen.manual_seed(t.seed)
        return model, make_optimizer(model.parameters(), t), gen
    model = copy.deepcopy(start.model)
    optimizer = make_optimizer(model.parameters(), t)
    if optimizer is not None and start.optimizer is not None:
        # deep copy: load_state_dict may share the moment tensors, and the kept state must not change
        optimizer.load_state_dict(copy.deepcopy(start.optimizer.state_dict()))
    gen.set_state(start.generator_state.clone())
    return model, optimizer, gen


def train(
    model_spec: ModelSpec,
    t: TrainingSpec,
    problem: Problem,
    *,
    instrumented: bool,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    start: TrainState | None = None,
    keep_state: bool = False,
    on_epoch: EpochSink | None = None,
    clock: Clock = time.monotonic,
) -> RunRecord:
    """Train ``model_spec`` with ``t`` on ``problem``; stops early on a non-finite loss or the deadline.

    ``deadline`` is a ``clock()`` value (``time.monotonic()`` by default), looked at every
    CHECK_EVERY_STEPS steps: past it the run stops mid-epoch, keeping the epochs it completed
    (``stop_reason`` ``deadline``); a run cut mid-epoch skips the final pass over the training
    data (``train_acc`` and the fit shares stay None). Deterministic for ``t.seed`` on one device.
    ``start`` continues a finished run for ``t.epochs`` more epochs (on copies of its model and
    optimizer); ``keep_state`` keeps this run's end state in the record for such a continuation.
    ``on_epoch`` is handed the record after each epoch's losses are in it (live progress).
    """
    started = clock()
    device = problem.x_train.device
    model, optimizer, gen = _start(model_spec, t, problem, start)
    params = list(model.parameters())
    loss_fn = LOSSES[problem.loss]
    classify = problem.accuracy_kind

    names, layer_params, kinds = model_layers(model, model_spec)
    instruments: list[Instrument] = (
        [cls(names, kinds) for cls in INSTRUMENTS.values()] if instrumented and names else []
    )
    watched = [i for i, k in kinds.items() if k in WATCHED_KINDS]
    probe_x = problem.x_train[:PROBE_BATCH]

    n = INITIAL_SAMPLES
    init_loss, _, _ = _evaluate(model, problem.x_train[:n], problem.y_train[:n], loss_fn, classify)
    init_val, _, _ = _evaluate(model, problem.x_val[:n], problem.y_val[:n], loss_fn, classify)
    rec = RunRecord(
        initial_loss=init_loss,
        initial_val_loss=init_val,
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
    )
    if instruments:
        acts = activations(model, probe_x, watched)
        for ins in instruments:
            ins.end_epoch(acts)

    n, bs = problem.n_train, min(t.batch_size, problem.n_train)
    stride = max(1, (t.epochs * -(-n // bs)) // INSTRUMENTED_STEPS)
    per_epoch = windows_per_epoch(t.epochs, batch_count(n, bs))
    step = 0
    cut = False
    for epoch in range(t.epochs):
        if should_stop is not None and should_stop():
            raise Stopped()
        if deadline is not None and clock() > deadline:
            rec.stop_reason, cut = "deadline", True
            break
        model.train()
        perm = torch.randperm(n, generator=gen).to(device)
        batch_losses: list[torch.Tensor] = []
        penalties: list[torch.Tensor] = []
        for b_i, idx in enumerate(batch_indices(perm, bs)):
            if b_i and b_i % CHECK_EVERY_STEPS == 0:
                if should_stop is not None and should_stop():
                    raise Stopped()
                if deadline is not None and clock() > deadline:
                    cut = True
                    break
            xb, yb = problem.x_train[idx], problem.y_train[idx]
            out = model(xb)  # [B, *out_shape]
            data_loss = loss_fn(out, yb)
            pen = _penalty(params, t.l1, t.l2) if (t.l1 or t.l2) else None
            if optimizer is not None:
                optimizer.zero_grad(set_to_none=True)
                (data_loss + pen if pen is not None else data_loss).backward()
                measured = instruments if step % stride == 0 else []
                view = StepView(layer_params, [[p.grad for p in ps] for ps in layer_params]) if measured else None
                if view is not None:
                    for ins in measured:
                        ins.before_step(view)
                if t.grad_clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, t.grad_clip_norm)
                optimizer.step()
                if view is not None:
                    for ins in measured:
                        ins.after_step(view)
            step += 1
            batch_losses.append(data_loss.detach())
            if pen is not None:
                penalties.append(pen.detach())
        if cut:
            # the epoch was cut short: the record keeps the epochs completed only
            rec.stop_reason = "deadline"
            break
        losses = torch.stack(batch_losses)
        rec.step_loss.extend(as_floats(losses))
        spans = window_spans(len(batch_losses), per_epoch)
        rec.window_loss.extend(as_floats(torch.stack([losses[lo:hi].mean() for lo, hi in spans])))
        rec.window_ends.extend(step - len(batch_losses) + hi for _, hi in spans)
        mean = float(losses.mean())
        rec.train_loss.append(mean if math.isfinite(mean) else None)
        rec.penalty.append(float(torch.stack(penalties).mean()) if penalties else 0.0)
        val, acc, _ = _evaluate(model, problem.x_val, problem.y_val, loss_fn, classify)
        rec.val_loss.append(val)
        rec.val_acc.append(acc)
        if instruments:
            acts = activations(model, probe_x, watched)
            for ins in instruments:
                ins.end_epoch(acts)
        if on_epoch is not None:
            on_epoch(1, rec if instrumented else None)
        if not math.isfinite(mean):
            rec.stop_reason = "non_finite"
            break
        if deadline is not None and epoch < t.epochs - 1 and clock() > deadline:
            # at an epoch end: the final pass below still runs (the deadline fell in the last few steps)
            rec.stop_reason = "deadline"
            break

    if classify and not cut:
        _, rec.train_acc, each = _evaluate(model, problem.x_train, problem.y_train, loss_fn, classify, problem.loss)
        rec.fit_share, rec.misfit_share = fit_shares(each, problem.chance)
    rec.steps_run = len(rec.step_loss)
    rec.step_loss = thin(rec.step_loss)
    record_instruments(rec, instruments, names)
    with torch.no_grad():
        norm = float(torch.stack([p.double().pow(2).sum() for p in params]).sum().sqrt()) if params else 0.0
    rec.param_norm = norm if math.isfinite(norm) else None
    if keep_state:
        rec.state = TrainState(model, optimizer, gen.get_state())
    rec.seconds = clock() - started
    return rec


def activations(model: torch.nn.Module, x: torch.Tensor, indices: list[int]) -> dict[int, torch.Tensor]:
    """Outputs of the layers (or ONNX nodes) at ``indices`` for inputs ``x``, in eval mode, without gradients."""
    if not indices:
        return {}
    outs: dict[int, torch.Tensor] = {}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if isinstance(model, OnnxModule):
                model(x, capture=indices, caught=outs)
                return outs
            assert isinstance(model, torch.nn.Sequential)
            h = x
            for i, module in enumerate(model):
                h = module(h)
                if i in indices:
                    outs[i] = h
                if i >= max(indices):
                    break
    finally:
        model.train(was_training)
    return outs
