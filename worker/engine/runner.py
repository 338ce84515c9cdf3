"""The one place runs are trained: probes (and the baseline) grouped by architecture and trained
together as stacks, the rest one by one through the plain loop.

Runs stack when they share the architecture (layer types, sizes, frozen flags), the optimizer,
batch size, epochs and data sizes; they may differ in init, seed, lr, momentum, weight decay,
penalties, gradient clipping and the data itself. Stacked or alone, a run's history is the same
within float tolerance. No run shares a model with another.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from worker.contract.spec import TrainingSpec
from worker.engine.batched.stack import signature
from worker.engine.batched.train import Member, Parked, Settled, StackState, continue_members, train_together
from worker.engine.probes.base import ProbeOutcome, ProbeRun
from worker.engine.probes.scoring import final_loss
from worker.engine.train.loop import Clock, EpochSink, RunRecord, TrainState, train
from worker.engine.train.problem import Problem

EventSink = Callable[[dict[str, Any]], None]


@dataclass
class Ended:
    """Where the first run of a batch (the baseline) ended, to continue it later; and the probes
    that stopped beside it once its verdict was settled (``parked``, by index into the runs)."""

    solo: TrainState | None = None
    stack: StackState | None = None
    member: int = 0
    parked: Parked | None = None


def _key(run: ProbeRun, data: Problem) -> tuple[object, ...] | None:
    sig = signature(run.model, data.sample_shape)
    if sig is None or run.resume:
        return None
    t = run.training
    return (sig, t.optimizer, t.batch_size, t.epochs, data.n_train, int(data.x_val.shape[0]), data.loss)


def _continued(baseline: RunRecord, more: RunRecord) -> RunRecord:
    """The baseline's history followed by its continuation's, as one run."""
    more.initial_loss, more.initial_val_loss = baseline.initial_loss, baseline.initial_val_loss
    for key in ("train_loss", "val_loss", "val_acc", "penalty", "step_loss"):
        setattr(more, key, getattr(baseline, key) + getattr(more, key))
    more.seconds += baseline.seconds
    return more


def run_all(
    runs: list[ProbeRun],
    problem: Problem,
    *,
    deadline: float,
    done: int,
    total: int,
    instrument_first: bool = False,
    baseline: RunRecord | None = None,
    ended: Ended | None = None,
    settled: Settled | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_event: EventSink | None = None,
    on_epoch: EpochSink | None = None,
    clock: Clock = time.monotonic,
) -> tuple[list[ProbeOutcome], Ended]:
    """Train ``runs`` (stacked where they can be) until ``deadline``; outcomes in the order of ``runs``.

    ``instrument_first``: ``runs[0]`` is the baseline, instrumented, and its end state is kept
    (returned as ``Ended``); it reports no probe events and is not counted. ``settled`` (with
    ``instrument_first``): asked of the baseline's record at each epoch end; once it holds, the
    probes trained beside the baseline stop there (kept in ``Ended.parked``), and the runs trained
    after it train only as many epochs as it took to settle. A run with ``resume`` continues
    ``baseline`` from ``ended``. ``done``/``total`` count probes across the whole job, for
    progress events; ``on_epoch`` is told of each epoch trained (see ``EpochSink``).

    With ``instrument_first``, the baseline gets the time it needs first: once the time per epoch
    of its stack says its remaining epochs would not fit before ``deadline``, the probes beside it
    stop (parked, reason ``budget``, ``stop_reason`` ``deadline``) for ``resume_parked`` to go on
    with if time remains; unlike a settled verdict, this caps no later run's epochs.
    """
    emit = on_event or (lambda event: None)
    datas = [run.data(problem) if run.data is not None else problem for run in runs]
    keys = [_key(run, data) for run, data in zip(runs, datas, strict=True)]
    groups: dict[object, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key if key is not None else ("alone", i), []).append(i)
    probes = [i for i in range(len(runs)) if not (instrument_first and i == 0)]
    # the baseline's group first, then the rest in plan order
    order = sorted(groups.values(), key=lambda idx: idx[0])
    records: dict[int, RunRecord] = {}
    mine = Ended()
    settled_at: int | None = None  # epochs the baseline took to settle, once it did
    for idx in order:
        # the baseline always trains (it stops itself at the deadline); probes past it are skipped
        if clock() >= deadline and not (instrument_first and idx[0] == 0):
            break
        for i in idx:
            if i in probes:
                emit({"type": "probe_started", "probe": runs[i].name, "done": done, "total": total})
        first = instrument_first and idx[0] == 0
        if runs[idx[0]].resume:
            rec = _resume(runs[idx[0]], datas[idx[0]], baseline, ended, deadline, should_stop, on_epoch, clock)
            if rec is None:
                continue
            records[idx[0]] = rec
        elif len(idx) > 1 or keys[idx[0]] is not None:
            members = [Member(runs[i].model, _capped(runs[i], settled_at), datas[i]) for i in idx]
            recs, state, parked = train_together(
                members,
                instrument_first=first,
                deadline=deadline,
                should_stop=should_stop,
                keep_state=first,
                settled=settled if first else None,
                budget_first=first,
                on_epoch=on_epoch,
                clock=clock,
            )
            records.update(zip(idx, recs, strict=True))
            if first:
                # parked members are positions in this group; Ended speaks of runs
                runs_parked = (
                    None
                    if parked is None
                    else Parked(parked.state, [idx[k] for k in parked.which], parked.epochs, parked.reason)
                )
                mine = Ended(stack=state, member=0, parked=runs_parked)
        else:
            rec = train(
                runs[idx[0]].model,
                _capped(runs[idx[0]], settled_at),
                datas[idx[0]],
                instrumented=first,
                deadline=deadline,
                should_stop=should_stop,
                keep_state=first,
                on_epoch=on_epoch,
                clock=clock,
            )
            records[idx[0]] = rec
            if first:
                mine = Ended(solo=rec.state)
                rec.state = None
        if first and settled is not None and records[0].stop_reason == "completed" and settled(records[0]):
            # a stack knows when it parked its probes; a baseline trained alone is asked afterwards
            # probes parked for the budget say nothing of when the verdict settled
            settled_at = (
                mine.parked.epochs
                if mine.parked is not None and mine.parked.reason == "settled"
                else _settled_at(records[0], settled)
            )
        if settled_at is not None and not first:
            for i in idx:
                if len(records[i].train_loss) < runs[i].training.epochs and records[i].stop_reason == "completed":
                    records[i].stop_reason = "settled"
        for i in idx:
            if i in records and i in probes:
                done += 1
                final = final_loss(records[i])
                emit(
                    {
                        "type": "probe_finished",
                        "probe": runs[i].name,
                        "done": done,
                        "total": total,
                        "final_loss": final if final != float("inf") else None,
                        "seconds": round(records[i].seconds, 3),
                    }
                )
    outcomes = [ProbeOutcome(runs[i], records[i], datas[i].chance) for i in sorted(records)]
    return outcomes, mine


def _capped(run: ProbeRun, epochs: int | None) -> TrainingSpec:
    """The run's training, cut to ``epochs`` when the baseline's verdict settled after that many."""
    t = run.training
    return t if epochs is None or epochs >= t.epochs else t.model_copy(update={"epochs": epochs})


def _settled_at(baseline: RunRecord, settled: Settled) -> int | None:
    """The first epoch count at which ``settled`` held for the baseline's history so far, if any."""
    for k in range(1, len(baseline.train_loss)):
        part = RunRecord(
            initial_loss=baseline.initial_loss,
            initial_val_loss=baseline.initial_val_loss,
            train_loss=baseline.train_loss[:k],
            val_loss=baseline.val_loss[:k],
            val_acc=baseline.val_acc[:k],
            penalty=baseline.penalty[:k],
        )
        if settled(part):
            return k
    return None


def resume_parked(
    runs: list[ProbeRun],
    outcomes: list[ProbeOutcome],
    parked: Parked,
    deadline: float,
    should_stop: Callable[[], bool] | None = None,
    on_epoch: EpochSink | None = None,
    clock: Clock = time.monotonic,
) -> list[ProbeOutcome]:
    """Train the parked probes on to their planned epochs: ``outcomes`` with their records completed.

    ``runs`` are the runs ``run_all`` trained, ``parked`` what it parked beside the baseline. Past
    ``deadline`` nothing trains: the parked records stay as they stopped.
    """
    if clock() >= deadline:
        return list(outcomes)
    spot = {id(o.run): n for n, o in enumerate(outcomes)}
    left = runs[parked.which[0]].training.epochs - parked.epochs
    state = continue_members(parked.state, range(len(parked.which)), left)
    recs, _, _ = train_together(
        state.members, deadline=deadline, should_stop=should_stop, start=state, on_epoch=on_epoch, clock=clock
    )
    out = list(outcomes)
    for i, rec in zip(parked.which, recs, strict=True):
        n = spot[id(runs[i])]
        out[n] = ProbeOutcome(out[n].run, _continued(out[n].record, rec), out[n].chance)
    return out


def _resume(
    run: ProbeRun,
    data: Problem,
    baseline: RunRecord | None,
    ended: Ended | None,
    deadline: float,
    should_stop: Callable[[], bool] | None,
    on_epoch: EpochSink | None = None,
    clock: Clock = time.monotonic,
) -> RunRecord | None:
    """Continue the baseline for ``run.training.epochs`` more epochs, on a copy of where it ended."""
    if baseline is None or ended is None or baseline.stop_reason != "completed":
        return None
    if ended.stack is not None:
        state = continue_members(ended.stack, [ended.member], run.training.epochs)
        recs, _, _ = train_together(
            state.members, deadline=deadline, should_stop=should_stop, start=state, on_epoch=on_epoch, clock=clock
        )
        return _continued(baseline, recs[0])
    if ended.solo is not None:
        more = train(
            run.model,
            run.training,
            data,
            instrumented=False,
            deadline=deadline,
            should_stop=should_stop,
            start=ended.solo,
            on_epoch=on_epoch,
            clock=clock,
        )
        return _continued(baseline, more)
    return None
