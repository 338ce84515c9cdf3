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

from worker.batched.stack import signature
from worker.batched.train import Member, StackState, continue_members, train_together
from worker.probes.base import ProbeOutcome, ProbeRun
from worker.probes.scoring import final_loss
from worker.train.loop import RunRecord, TrainState, train
from worker.train.problem import Problem

EventSink = Callable[[dict[str, Any]], None]


@dataclass
class Ended:
    """Where the first run of a batch (the baseline) ended, to continue it later."""

    solo: TrainState | None = None
    stack: StackState | None = None
    member: int = 0


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


def run_all(runs: list[ProbeRun], problem: Problem, *, deadline: float, done: int, total: int,
            instrument_first: bool = False, baseline: RunRecord | None = None, ended: Ended | None = None,
            should_stop: Callable[[], bool] | None = None, on_event: EventSink | None = None
            ) -> tuple[list[ProbeOutcome], Ended]:
    """Train ``runs`` (stacked where they can be) until ``deadline``; outcomes in the order of ``runs``.

    ``instrument_first``: ``runs[0]`` is the baseline, instrumented, and its end state is kept
    (returned as ``Ended``); it reports no probe events and is not counted. A run with ``resume``
    continues ``baseline`` from ``ended``. ``done``/``total`` count probes across the whole job,
    for progress events.
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
    for idx in order:
        # the baseline always trains (it stops itself at the deadline); probes past it are skipped
        if time.monotonic() >= deadline and not (instrument_first and idx[0] == 0):
            break
        for i in idx:
            if i in probes:
                emit({"type": "probe_started", "probe": runs[i].name, "done": done, "total": total})
        first = instrument_first and idx[0] == 0
        if runs[idx[0]].resume:
            rec = _resume(runs[idx[0]], datas[idx[0]], baseline, ended, deadline, should_stop)
            if rec is None:
                continue
            records[idx[0]] = rec
        elif len(idx) > 1 or keys[idx[0]] is not None:
            recs, state = train_together([Member(runs[i].model, runs[i].training, datas[i]) for i in idx],
                                         instrument_first=first, deadline=deadline, should_stop=should_stop,
                                         keep_state=first)
            records.update(zip(idx, recs, strict=True))
            if first:
                mine = Ended(stack=state, member=0)
        else:
            rec = train(runs[idx[0]].model, runs[idx[0]].training, datas[idx[0]], instrumented=first,
                        deadline=deadline, should_stop=should_stop, keep_state=first)
            records[idx[0]] = rec
            if first:
                mine = Ended(solo=rec.state)
                rec.state = None
        for i in idx:
            if i in records and i in probes:
                done += 1
                final = final_loss(records[i])
                emit({"type": "probe_finished", "probe": runs[i].name, "done": done, "total": total,
                      "final_loss": final if final != float("inf") else None,
                      "seconds": round(records[i].seconds, 3)})
    outcomes = [ProbeOutcome(runs[i], records[i], datas[i].chance) for i in sorted(records)]
    return outcomes, mine


def _resume(run: ProbeRun, data: Problem, baseline: RunRecord | None, ended: Ended | None, deadline: float,
            should_stop: Callable[[], bool] | None) -> RunRecord | None:
    """Continue the baseline for ``run.training.epochs`` more epochs, on a copy of where it ended."""
    if baseline is None or ended is None or baseline.stop_reason != "completed":
        return None
    if ended.stack is not None:
        state = continue_members(ended.stack, [ended.member], run.training)
        recs, _ = train_together(state.members, deadline=deadline, should_stop=should_stop, start=state)
        return _continued(baseline, recs[0])
    if ended.solo is not None:
        more = train(run.model, run.training, data, instrumented=False, deadline=deadline, should_stop=should_stop,
                     start=ended.solo)
        return _continued(baseline, more)
    return None
