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
from dataclasses import dataclass, field
from typing import Any

from worker.contract.spec import TrainingSpec
from worker.engine.batched.stack import signature
from worker.engine.batched.train import (
    Member,
    Parked,
    Settled,
    StackedTraining,
    StackState,
    continue_members,
    train_together,
)
from worker.engine.probes.base import ProbeOutcome, ProbeRun
from worker.engine.probes.scoring import ANSWERED_BY_SIGNAL, JUDGED_FAMILIES, final_loss
from worker.engine.train.loop import Clock, EpochSink, RunRecord, TrainState, train
from worker.engine.train.problem import Problem

EventSink = Callable[[dict[str, Any]], None]


@dataclass
class Ended:
    """Where the first run of a batch (the baseline) ended, to continue it later; and the probes
    that stopped beside it once its verdict was settled (``parked``, by index into the runs), and
    those that stopped beside it because they clearly did not recover at that epoch (``behind``,
    one entry per epoch count; see ``worker.engine.probes.scoring.clearly_behind``), or because it
    showed signal, which answers their question (``answered``; see
    ``worker.engine.probes.scoring.ANSWERED_BY_SIGNAL``). ``dropped``: the probes (by index into the
    runs) that stopped behind it within an epoch, with the judge windows each had trained
    (``worker.engine.train.windows``); they cannot go on from there, so should the baseline end
    worse than it was there, they train again from the start."""

    solo: TrainState | None = None
    stack: StackState | None = None
    member: int = 0
    parked: Parked | None = None
    behind: list[Parked] = field(default_factory=list)
    answered: list[Parked] = field(default_factory=list)
    dropped: list[tuple[int, int]] = field(default_factory=list)


def _key(run: ProbeRun, data: Problem) -> tuple[object, ...] | None:
    sig = signature(run.model, data.sample_shape)
    if sig is None or run.resume:
        return None
    t = run.training
    return (sig, t.optimizer, t.batch_size, t.epochs, data.n_train, int(data.x_val.shape[0]), data.loss)


def _continued(baseline: RunRecord, more: RunRecord) -> RunRecord:
    """The baseline's history followed by its continuation's, as one run."""
    more.initial_loss, more.initial_val_loss = baseline.initial_loss, baseline.initial_val_loss
    for key in ("train_loss", "val_loss", "val_acc", "penalty", "step_loss", "window_loss"):
        setattr(more, key, getattr(baseline, key) + getattr(more, key))
    more.window_ends = baseline.window_ends + [baseline.steps_run + e for e in more.window_ends]
    more.steps_run += baseline.steps_run
    more.seconds += baseline.seconds
    return more


@dataclass(frozen=True)
class Budget:
    """What every training of a job shares: when to stop, whom to tell, and the clock.

    ``deadline``: a ``clock()`` value past which nothing trains on; ``should_stop``: the cancel flag;
    ``on_event``: probe events; ``on_epoch``: each epoch trained (see ``EpochSink``).
    """

    deadline: float
    should_stop: Callable[[], bool] | None = None
    on_event: EventSink | None = None
    on_epoch: EpochSink | None = None
    clock: Clock = time.monotonic

    def emit(self, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event)


@dataclass
class Batch:
    """The runs ``run_all`` trains and what it needs to know of them.

    ``instrument_first``: ``runs[0]`` is the baseline; ``baseline``/``ended``: the baseline a
    ``resume`` run continues, and the one stacked probes are compared with; ``settled``: asked of
    the baseline's record at each epoch end; ``done``/``total``: probes counted across the whole
    job, for progress events; ``judge``: stacked probes of ``JUDGED_FAMILIES`` stop early once
    they clearly do not recover against the baseline at the same epoch (``stop_reason`` ``behind``),
    and with ``instrument_first`` those of ``ANSWERED_BY_SIGNAL`` stop once ``signal`` holds for the
    baseline's record at an epoch end (``stop_reason`` ``answered``).
    """

    runs: list[ProbeRun]
    problem: Problem
    done: int
    total: int
    instrument_first: bool = False
    baseline: RunRecord | None = None
    ended: Ended | None = None
    settled: Settled | None = None
    judge: bool = False
    signal: Settled | None = None


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
    judge: bool = False,
    signal: Settled | None = None,
) -> tuple[list[ProbeOutcome], Ended]:
    """``train_batch`` with its two parameter objects spelled out as keywords."""
    return train_batch(
        Batch(runs, problem, done, total, instrument_first, baseline, ended, settled, judge, signal),
        Budget(deadline, should_stop, on_event, on_epoch, clock),
    )


def train_batch(batch: Batch, budget: Budget) -> tuple[list[ProbeOutcome], Ended]:
    """Train ``batch.runs`` (stacked where they can be) until the deadline; outcomes in the order of the runs.

    ``instrument_first``: ``runs[0]`` is the baseline, instrumented, and its end state is kept
    (returned as ``Ended``); it reports no probe events and is not counted. ``settled`` (with
    ``instrument_first``): asked of the baseline's record at each epoch end; once it holds, the
    probes trained beside the baseline stop there (kept in ``Ended.parked``), and the runs trained
    after it train only as many epochs as it took to settle. A run with ``resume`` continues
    ``baseline`` from ``ended``.

    With ``instrument_first``, the baseline gets the time it needs first: once the time per epoch
    of its stack says its remaining epochs would not fit before the deadline, the probes beside it
    stop (parked, reason ``budget``, ``stop_reason`` ``deadline``) for ``resume_parked`` to go on
    with if time remains; unlike a settled verdict, this caps no later run's epochs.
    """
    runs = batch.runs
    datas = [run.data(batch.problem) if run.data is not None else batch.problem for run in runs]
    keys = [_key(run, data) for run, data in zip(runs, datas, strict=True)]
    groups: dict[object, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key if key is not None else ("alone", i), []).append(i)
    probes = {i for i in range(len(runs)) if not (batch.instrument_first and i == 0)}
    records: dict[int, RunRecord] = {}
    mine = Ended()
    settled_at: int | None = None  # epochs the baseline took to settle, once it did
    done = batch.done
    # the baseline's group first, then the rest in plan order
    for idx in sorted(groups.values(), key=lambda idx: idx[0]):
        first = batch.instrument_first and idx[0] == 0
        # the baseline always trains (it stops itself at the deadline); probes past it are skipped
        if budget.clock() >= budget.deadline and not first:
            break
        for i in idx:
            if i in probes:
                budget.emit({"type": "probe_started", "probe": runs[i].name, "done": done, "total": batch.total})
        reference = records.get(0) if batch.instrument_first else batch.baseline
        trained = _train_group(
            batch,
            budget,
            idx,
            datas,
            stackable=len(idx) > 1 or keys[idx[0]] is not None,
            first=first,
            settled_at=settled_at,
            reference=None if first else reference,
        )
        if trained is None:
            continue
        recs, ended = trained
        records.update(recs)
        if first:
            mine = ended
            if batch.settled is not None and records[0].stop_reason == "completed" and batch.settled(records[0]):
                settled_at = _settled_epochs(records[0], mine, batch.settled)
        elif settled_at is not None:
            _mark_capped(runs, idx, records)
        for i in idx:
            if i in records and i in probes:
                done += 1
                _report_finished(budget, runs[i].name, records[i], done, batch.total)
    outcomes = [ProbeOutcome(runs[i], records[i], datas[i].chance) for i in sorted(records)]
    return outcomes, mine


def _train_group(
    batch: Batch,
    budget: Budget,
    idx: list[int],
    datas: list[Problem],
    *,
    stackable: bool,
    first: bool,
    settled_at: int | None,
    reference: RunRecord | None = None,
) -> tuple[dict[int, RunRecord], Ended] | None:
    """Train the runs at ``idx`` of ``batch`` (one stack, a continuation or one run alone): their
    records by index, and where the baseline ended when ``first``; None when a continuation had no
    baseline to continue. ``reference``: the baseline's record, trained already, that judged
    probes of a stack without it are compared with."""
    runs = batch.runs
    lead = runs[idx[0]]
    if lead.resume:
        rec = _resume(
            lead,
            datas[idx[0]],
            batch.baseline,
            batch.ended,
            budget.deadline,
            budget.should_stop,
            budget.on_epoch,
            budget.clock,
        )
        return None if rec is None else ({idx[0]: rec}, Ended())
    if stackable:
        judged = [batch.judge and runs[i].family in JUDGED_FAMILIES and not (first and i == 0) for i in idx]
        asks = first and batch.judge and batch.signal is not None
        members = [
            Member(
                runs[i].model,
                _capped(runs[i], settled_at),
                datas[i],
                j,
                until_signal=asks and i != 0 and runs[i].family in ANSWERED_BY_SIGNAL,
            )
            for i, j in zip(idx, judged, strict=True)
        ]
        stacked = StackedTraining(
            members,
            instrument_first=first,
            deadline=budget.deadline,
            should_stop=budget.should_stop,
            settled=batch.settled if first else None,
            budget_first=first,
            on_epoch=budget.on_epoch,
            clock=budget.clock,
            reference=reference if any(judged) else None,
            signal=batch.signal if asks else None,
        )
        recs, state, parked = stacked.run(keep_state=first)

        def of_runs(p: Parked) -> Parked:
            # parked members are positions in this group; Ended speaks of runs
            return Parked(p.state, [idx[k] for k in p.which], p.epochs, p.reason)

        ended = Ended(
            stack=state,
            member=0,
            parked=None if parked is None else of_runs(parked),
            behind=[of_runs(p) for p in stacked.behind],
            answered=[of_runs(p) for p in stacked.answered],
            dropped=[(idx[k], windows) for k, windows in stacked.dropped],
        )
        return dict(zip(idx, recs, strict=True)), ended
    rec = train(
        lead.model,
        _capped(lead, settled_at),
        datas[idx[0]],
        instrumented=first,
        deadline=budget.deadline,
        should_stop=budget.should_stop,
        keep_state=first,
        on_epoch=budget.on_epoch,
        clock=budget.clock,
    )
    ended = Ended(solo=rec.state)
    if first:
        rec.state = None
    return {idx[0]: rec}, ended


def _settled_epochs(baseline: RunRecord, ended: Ended, settled: Settled) -> int | None:
    """The epochs the baseline took to settle: a stack knows when it parked its probes; a baseline
    trained alone is asked afterwards (probes parked for the budget say nothing of when it settled)."""
    if ended.parked is not None and ended.parked.reason == "settled":
        return ended.parked.epochs
    return _settled_at(baseline, settled)


def _mark_capped(runs: list[ProbeRun], idx: list[int], records: dict[int, RunRecord]) -> None:
    """Runs trained after the baseline settled, cut to its epochs, stopped because it had settled."""
    for i in idx:
        if len(records[i].train_loss) < runs[i].training.epochs and records[i].stop_reason == "completed":
            records[i].stop_reason = "settled"


def _report_finished(budget: Budget, name: str, rec: RunRecord, done: int, total: int) -> None:
    """The ``probe_finished`` event of one probe run."""
    final = final_loss(rec)
    budget.emit(
        {
            "type": "probe_finished",
            "probe": name,
            "done": done,
            "total": total,
            "final_loss": final if final != float("inf") else None,
            "seconds": round(rec.seconds, 3),
        }
    )


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
