"""Run a job: validate, train the baseline, run the probes, diagnose, and return the result.

    run_job(spec) -> Result (the contract's ``result``, typed; ``Result.to_json`` writes it as strict JSON)

Raises ``SpecError`` for a spec that cannot run on its data and ``Cancelled`` when
``should_stop`` asks to stop. A training that goes wrong is a finding, never an exception.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from worker.contract.errors import Cancelled, SpecError
from worker.contract.result import LeftOut, Result
from worker.contract.spec import JobSpec
from worker.contract.vocabulary import ProbeName
from worker.data import split
from worker.data.shapes import infer_shapes
from worker.data.validate import check_runnable
from worker.diagnosis.evidence import Evidence
from worker.diagnosis.record import RunRecord
from worker.diagnosis.rules.measures import FALLING, diverged, falling_rate, moved, score, settled, shows_signal
from worker.engine.baseline_feed import BaselineFeed
from worker.engine.checks import CHECKS, CheckResult
from worker.engine.onnx.build import check_runs, onnx_output_shape
from worker.engine.probes import PROBES, Probe, ProbeContext, ProbeOutcome, ProbeRun
from worker.engine.probes.base import BaselineVerdict
from worker.engine.probes.scoring import rose_after
from worker.engine.result import build_evidence, build_result
from worker.engine.runner import Ended, EventSink, resume_parked, run_all
from worker.engine.train.loop import Clock, Stopped
from worker.engine.train.problem import make_problem

log = logging.getLogger(__name__)

#: Share of the budget the trainings may use; the rest is kept for diagnosis and serialization.
TRAINING_SHARE = 0.9
#: Seconds kept for diagnosis and serialization at least (at most half the budget), whatever the share.
MIN_RESERVE_SECONDS = 0.5
#: Points of the baseline's curve kept in progress reports; longer curves are thinned evenly.
PROGRESS_CURVE_POINTS = 200
#: Intra-op CPU threads: the probe models are small, so one thread wastes nothing and leaves the
#: other cores to other jobs.
CPU_THREADS = 1
#: Checks whose confirming probes come after the baseline: when one is flagged, a baseline that
#: trained well still gets them.
PHASE2_CHECKS = ("non_finite", "output_loss", "label_range", "frozen")
#: Rounds of follow-up probes (e.g. the lr sweep walking further) at most.
MAX_FOLLOW_UPS = 4

FetchUpload = Callable[[str], bytes | None]


def training_deadline(started: float, budget_seconds: float) -> float:
    """The clock value at which trainings stop: the budget less a reserve for diagnosis and result
    (the larger of 1 - TRAINING_SHARE of it and MIN_RESERVE_SECONDS, at most half the budget)."""
    reserve = min(max((1.0 - TRAINING_SHARE) * budget_seconds, MIN_RESERVE_SECONDS), budget_seconds / 2)
    return started + budget_seconds - reserve


class EpochProgress:
    """Progress by epoch across the job's planned runs, sent as ``progress`` events.

    ``epochs_total`` is the sum of the planned epochs of every run planned so far; once a group of
    runs ends, the epochs they did not train (stopped early, skipped) leave it, so it converges on
    what was trained. ``eta_seconds`` is the epochs left at the job's mean time per epoch, at most
    the time left in the budget. The baseline's curve is its per-epoch losses so far, thinned to
    PROGRESS_CURVE_POINTS. Seconds are wall seconds since the job started.
    """

    def __init__(self, emit: EventSink, started: float, end: float, clock: Clock = time.monotonic) -> None:
        self.emit, self.started, self.end, self.clock = emit, started, end, clock
        self.epochs_done = 0
        self.epochs_total = 0
        self._planned = 0
        self._done_at_plan = 0
        self.curve: dict[str, list[Any]] = {"epoch": [], "train_loss": [], "val_loss": []}

    def plan(self, epochs: int) -> None:
        """A group of runs of ``epochs`` planned epochs in all is about to train."""
        self.epochs_total += epochs
        self._planned, self._done_at_plan = epochs, self.epochs_done

    def ended(self) -> None:
        """The group planned last has ended: its untrained epochs leave the total."""
        self.epochs_total -= self._planned - (self.epochs_done - self._done_at_plan)
        self._planned, self._done_at_plan = 0, self.epochs_done
        self.send()

    def on_epoch(self, members: int, baseline: RunRecord | None) -> None:
        """``members`` runs trained one more epoch; ``baseline``: the baseline's record so far."""
        self.epochs_done += members
        if baseline is not None:
            self.curve = _thinned_curve(baseline)
        self.send()

    def send(self) -> None:
        """Emit the progress as it stands (the task stores it at most every half second)."""
        now = self.clock()
        elapsed = now - self.started
        left = max(0, self.epochs_total - self.epochs_done)
        eta = elapsed / self.epochs_done * left if self.epochs_done else None
        eta = max(0.0, self.end - now) if eta is None else min(eta, max(0.0, self.end - now))
        self.emit(
            {
                "type": "progress",
                "epochs_done": self.epochs_done,
                "epochs_total": max(self.epochs_total, self.epochs_done),
                "elapsed_seconds": round(elapsed, 3),
                "eta_seconds": round(eta, 3),
                "baseline": self.curve,
            }
        )


def _thinned_curve(rec: RunRecord) -> dict[str, list[Any]]:
    """The record's per-epoch train and validation losses, thinned evenly to PROGRESS_CURVE_POINTS (the last kept)."""
    n = len(rec.train_loss)
    picks = (
        list(range(n))
        if n <= PROGRESS_CURVE_POINTS
        else sorted({round(i * (n - 1) / (PROGRESS_CURVE_POINTS - 1)) for i in range(PROGRESS_CURVE_POINTS)})
    )
    return {
        "epoch": [i + 1 for i in picks],
        "train_loss": [rec.train_loss[i] for i in picks],
        "val_loss": [rec.val_loss[i] if i < len(rec.val_loss) else None for i in picks],
    }


def pick_device(requested: str) -> torch.device:
    """``auto``: a GPU when this worker has one; ``cuda`` without one is a spec the worker cannot run."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise SpecError(("device",), "device 'cuda' was requested but this worker has no GPU; use 'auto' or 'cpu'")
    if requested in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def auto_families() -> list[ProbeName]:
    """Every probe family, most telling first; each decides whether it applies when planned.

    A baseline whose verdict is settled (``worker.diagnosis.rules.measures.settled``: it trained to within
    MIN_GAIN of a perfect fit, with signal) leaves no room for any probe to confirm a cause, so
    the phase-1 probes stop as soon as it gets there, and in phase 2 only the families that judge
    a trained run (is it done?) run.
    """
    return sorted(PROBES, key=lambda name: PROBES[name].priority)


def run_job(
    spec: JobSpec,
    *,
    on_event: EventSink | None = None,
    should_stop: Callable[[], bool] | None = None,
    fetch_upload: FetchUpload | None = None,
    cpu_threads: int | None = CPU_THREADS,
) -> Result:
    """Diagnose ``spec``: the contract's result (baseline, probes, diagnosis).

    ``cpu_threads``: intra-op threads when training on the CPU (None leaves torch's choice).
    """
    started = time.monotonic()
    deadline = training_deadline(started, spec.budget_seconds)
    emit = on_event or (lambda event: None)
    progress = EpochProgress(emit, started, started + spec.budget_seconds)
    raw = check_runnable(spec, fetch_upload)
    parts = split(raw, spec.data.validation_fraction, spec.data.seed)
    device = pick_device(spec.device)
    if device.type == "cpu" and cpu_threads:
        torch.set_num_threads(cpu_threads)
    sample_shape = tuple(int(d) for d in raw.x.shape[1:])
    # an uploaded ONNX graph is converted here, in the work horse: its output shape comes from a run on
    # the meta device, which also refuses a graph whose values grow too large
    out_shape = (
        onnx_output_shape(spec.model, sample_shape)
        if spec.model.onnx is not None
        else infer_shapes(spec.model.layers, sample_shape)[-1]
    )
    problem = make_problem(
        parts.x_train, parts.y_train, parts.x_val, parts.y_val, spec.training.loss, int(np.prod(out_shape)), device
    )
    if spec.model.onnx is not None:
        check_runs(spec.model, [problem.x_train, problem.x_val])
    checks: dict[str, CheckResult] = {name: check(spec, parts.x_train, parts.y_train) for name, check in CHECKS.items()}
    emit({"type": "checks_done", "flagged": [n for n, c in checks.items() if c.flagged]})

    explicit = spec.probes != "auto"
    wanted: list[ProbeName] = list(spec.probes) if isinstance(spec.probes, list) else auto_families()
    notes: list[str] = []
    if spec.model.onnx is not None:
        for reason, off in _not_applicable(spec, wanted).items():
            wanted = [name for name in wanted if name not in off]
            if explicit:
                notes.append(f"not applicable to an uploaded ONNX model, so not run: {', '.join(off)} ({reason})")
        if "reseed" in wanted and spec.model.init is None:
            notes.append(
                "reseed re-initialized the model for each seed (model.init default): the exported "
                "weights do not depend on a seed"
            )
    ctx = ProbeContext(spec=spec, problem=problem, checks=checks)
    flagged = any(checks[c].flagged for c in PHASE2_CHECKS)

    def is_settled(ev: Evidence) -> bool:
        # a flagged check still wants its phase-2 probe, so nothing is settled then
        return not flagged and settled(ev)

    def baseline_settled(rec: RunRecord) -> bool:
        return is_settled(build_evidence(spec, problem, parts, checks, rec, []))

    def baseline_signal(rec: RunRecord) -> bool:
        ev = build_evidence(spec, problem, parts, checks, rec, [])
        return shows_signal(ev, ev.baseline)

    try:
        # phase 1: the baseline and the probes that need nothing from it, trained side by side;
        # once the baseline's verdict is settled, they stop there (parked, in case it unsettles)
        base_run = ProbeRun(name="baseline", family="baseline", changes={}, model=spec.model, training=spec.training)
        first = [
            run
            for name in wanted
            if PROBES[name].phase == 1 and (explicit or PROBES[name].applies(ctx))
            for run in PROBES[name].plan(ctx)
        ]
        emit({"type": "baseline_started", "probes_planned": len(first)})
        feed = BaselineFeed(emit, spec.training.epochs)

        def on_epoch(members: int, trained: RunRecord | None) -> None:
            progress.on_epoch(members, trained)
            if trained is not None:
                feed(trained)

        runs_one = [base_run, *first]
        progress.plan(_epochs(runs_one))
        done1, ended = run_all(
            runs_one,
            problem,
            deadline=deadline,
            done=0,
            total=len(first),
            instrument_first=True,
            settled=None if explicit else baseline_settled,
            should_stop=should_stop,
            on_event=emit,
            on_epoch=on_epoch,
            judge=not explicit,
            signal=baseline_signal,
        )
        feed.flush()
        progress.ended()
        baseline, outcomes = done1[0].record, done1[1:]
        ctx.baseline = baseline
        base_ev = build_evidence(spec, problem, parts, checks, baseline, [])
        trained_well = is_settled(base_ev)
        # probes parked beside the baseline (its verdict settled, or for the budget) go on while time
        # remains (probes named in the spec always do); probes stopped level with or behind it go on
        # when it ended worse than it was where they stopped; probes whose question its signal answered
        # go on when it ended without signal
        stopped = [ended.parked] if ended.parked is not None and (explicit or not trained_well) else []
        stopped += [b for b in ended.behind if rose_after(baseline.train_loss, b.epochs, problem.chance)]
        stopped += [a for a in ended.answered if not shows_signal(base_ev, base_ev.baseline)]
        for parked in stopped:
            progress.plan(len(parked.which) * (first[0].training.epochs - parked.epochs))
            outcomes = resume_parked(
                [base_run, *first], outcomes, parked, deadline, should_stop, on_epoch=progress.on_epoch
            )
            progress.ended()
        b = base_ev.baseline
        ctx.verdict = BaselineVerdict(
            score=score(base_ev, b),
            signal=shows_signal(base_ev, b),
            diverged=diverged(base_ev, b),
            moved=moved(base_ev, b),
            falling=falling_rate(b) >= FALLING,
        )
        last = baseline.train_loss[-1] if baseline.train_loss else None
        emit({"type": "baseline_finished", "final_loss": last})
        # phase 2: the probes chosen from what the baseline did
        second = [
            run
            for name in wanted
            if PROBES[name].phase == 2 and (explicit or _wanted(PROBES[name], ctx, trained_well))
            for run in PROBES[name].plan(ctx)
        ]

        def train_after(runs: list[ProbeRun], beside: Ended | None = None) -> list[ProbeOutcome]:
            """Train ``runs`` after the baseline (stacked with what is left of phase 1 in ``beside``)."""
            progress.plan(_epochs(runs))
            more, _ = run_all(
                runs,
                problem,
                deadline=deadline,
                done=len(outcomes),
                total=len(outcomes) + len(runs),
                baseline=baseline,
                ended=beside,
                should_stop=should_stop,
                on_event=emit,
                on_epoch=progress.on_epoch,
                judge=not explicit,
            )
            progress.ended()
            return more

        # probes stopped behind the baseline within an epoch, where it ended worse than it was there,
        # train again from the start, judged against its whole record
        again = [
            runs_one[k] for k, windows in ended.dropped if rose_after(baseline.window_loss, windows, problem.chance)
        ]
        if again:
            redone = {id(o.run): o for o in train_after(again)}
            outcomes = [redone.get(id(o.run), o) for o in outcomes]
        outcomes += train_after(second, ended)
        planned_runs = [*first, *second]
        for _ in range(MAX_FOLLOW_UPS if explicit or not trained_well else 0):
            extra = [run for name in wanted for run in PROBES[name].follow_up(ctx, outcomes)]
            if not extra:
                break
            planned_runs += extra
            if time.monotonic() >= deadline:
                break
            outcomes += train_after(extra)
    except Stopped as exc:
        raise Cancelled("the job was cancelled") from exc
    planned = len(first) + len(second)
    left_out = _left_out(baseline, spec.training.epochs, planned_runs, outcomes)
    if left_out:
        notes.append("the budget cut short or left out: " + ", ".join(e.said() for e in left_out))

    evidence: Evidence = build_evidence(spec, problem, parts, checks, baseline, outcomes)
    result = build_result(
        spec,
        problem,
        checks,
        baseline,
        outcomes,
        evidence,
        device,
        seconds=time.monotonic() - started,
        skipped=max(0, planned - len(outcomes)),
        budget_seconds=spec.budget_seconds,
        left_out=left_out,
    )
    diagnosis = result.diagnosis
    assert diagnosis is not None
    diagnosis.notes.extend(notes)
    emit({"type": "diagnosed", "primary_cause": diagnosis.primary_cause, "healthy": diagnosis.healthy})
    return result


def _epochs(runs: list[ProbeRun]) -> int:
    """The planned epochs of ``runs`` in all."""
    return sum(run.training.epochs for run in runs)


def _left_out(
    baseline: RunRecord, baseline_epochs: int, planned: list[ProbeRun], outcomes: list[ProbeOutcome]
) -> list[LeftOut]:
    """What the budget left out: each run cut short by the deadline (``why`` ``cut``, with the epochs it
    ran of those planned) and each planned probe never started (``why`` ``skipped``), baseline first."""
    out: list[LeftOut] = []
    if baseline.stop_reason == "deadline":
        out.append(
            LeftOut(name="baseline", why="cut", epochs_run=len(baseline.train_loss), epochs_planned=baseline_epochs)
        )
    ran = {id(o.run) for o in outcomes}
    for o in outcomes:
        if o.record.stop_reason == "deadline":
            planned_epochs = o.run.training.epochs + (len(baseline.train_loss) if o.run.resume else 0)
            out.append(
                LeftOut(name=o.run.name, why="cut", epochs_run=len(o.record.train_loss), epochs_planned=planned_epochs)
            )
    out += [LeftOut(name=run.name, why="skipped") for run in planned if id(run) not in ran]
    return out


def _not_applicable(spec: JobSpec, wanted: list[ProbeName]) -> dict[str, list[ProbeName]]:
    """The wanted probe families an uploaded ONNX model cannot take, by the reason why."""
    out: dict[str, list[ProbeName]] = {}
    edits = [name for name in wanted if PROBES[name].edits_layers]
    if edits:
        out["each edits the model's layer list, which an ONNX graph does not have"] = edits
    program = spec.model.program
    if "standardize_inputs" in wanted and program is not None and program.integer_input:
        out["the model's input holds integer ids: categories, not measurements to rescale"] = ["standardize_inputs"]
    return out


def _wanted(probe: Probe, ctx: ProbeContext, trained_well: bool) -> bool:
    return probe.applies(ctx) and (probe.needed_when_trained or not trained_well)
