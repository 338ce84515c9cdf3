"""Train G runs of one architecture together, each on its own data, lr, penalties and seed.

The loop mirrors ``worker.engine.train.loop.train`` step for step: the same seeded shuffling per
member, the same batches, each member's loss the mean over its batch, penalties and gradient
clipping per member, and the optimizer's own update per member. Member g's history is the one it
would have alone, within float tolerance (tests hold it to that for every optimizer).

Shapes: ``X`` [G, N, *sample], ``Y`` [G, N] (class indices) or [G, N, k]; batches [G, B, ...].
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from worker.contract.spec import CLASS_INDEX_LOSSES, ModelSpec, TrainingSpec
from worker.diagnosis.record import RunRecord, StopReason
from worker.engine.batched.optim import KINDS, StackedOptimizer
from worker.engine.batched.stack import Stack
from worker.engine.instruments import INSTRUMENTS, WATCHED_KINDS, Instrument, StepView
from worker.engine.instruments.base import as_floats
from worker.engine.model import layer_names
from worker.engine.probes.scoring import clearly_behind
from worker.engine.train.loop import (
    CHECK_EVERY_STEPS,
    INITIAL_SAMPLES,
    INSTRUMENTED_STEPS,
    PROBE_BATCH,
    Clock,
    EpochSink,
    Stopped,
    batch_indices,
    fit_shares,
    record_instruments,
    thin,
)
from worker.engine.train.losses import bce_each
from worker.engine.train.problem import Problem, hits, per_sample_loss
from worker.engine.train.windows import window_spans, windows_per_epoch

#: The stop reason a run's record gets when the stack parks it: for the budget (``deadline``), because
#: the baseline settled, or because it was clearly behind the baseline.
PARKED_STOP_REASONS: dict[str, StopReason] = {
    "budget": "deadline",
    "settled": "settled",
    "behind": "behind",
    "answered": "answered",
}


@dataclass(frozen=True)
class Member:
    """One run of a stack: its model spec (init and seed), training settings and data.

    ``judged``: a probe that may stop early once it clearly does not recover against the baseline
    (``worker.engine.probes.scoring.clearly_behind``), compared at the same epoch. ``until_signal``:
    a probe that may stop once the baseline beside it shows signal
    (``worker.engine.probes.scoring.ANSWERED_BY_SIGNAL``).
    """

    model: ModelSpec
    training: TrainingSpec
    problem: Problem
    judged: bool = False
    until_signal: bool = False


@dataclass
class StackState:
    """Where a stack ended: enough to continue any subset of its members."""

    stack: Stack
    optimizer: StackedOptimizer
    generators: list[torch.Tensor]
    members: list[Member]


@dataclass
class Parked:
    """Members that stopped early, kept so they can go on.

    ``which``: their positions in the stack's member list; ``epochs``: the epochs they trained;
    ``reason``: ``settled`` (the first member's verdict was settled), ``budget`` (the first
    member's remaining epochs would not have fit before the deadline with them beside it),
    ``behind`` (each was judged not to recover against the baseline at that epoch) or ``answered``
    (the first member showed signal, which answers their question).
    """

    state: StackState
    which: list[int]
    epochs: int
    reason: str = "settled"


#: Bytes of shuffled training data gathered at once (all members); batches are slices of it.
GATHER_BYTES = 64 * 2**20

#: With ``budget_first``, steps into the first epoch at which its time is first estimated (later than
#: the first steps, which are slower than the rest), in epochs of at least LONG_EPOCH_STEPS steps:
#: when member 0's epochs will not fit at that rate, it goes on alone at once.
EARLY_LOOK_STEPS = 8
LONG_EPOCH_STEPS = 128

#: Asked at each epoch end with the first member's record so far: may the others stop now? (Also the
#: shape of the question "does it show signal?" asked for ``until_signal`` members.)
Settled = Callable[[RunRecord], bool]


def member_losses(loss: str, out: torch.Tensor, y: torch.Tensor, ignored: bool = True) -> torch.Tensor:
    """Each member's mean loss over its batch: [G]. ``out`` [G, B, ...], ``y`` [G, B] or [G, B, k].

    ``ignored``: some class labels may be -100 (missing), which the mean leaves out.
    """
    g, b = out.shape[:2]
    if loss in CLASS_INDEX_LOSSES:
        fn = torch.nn.functional.cross_entropy if loss == "cross_entropy" else torch.nn.functional.nll_loss
        if g == 1:
            # one member: PyTorch's own mean, which leaves out ignored labels the same way
            return fn(out[0], y[0]).reshape(1)
        flat_y = y.reshape(g * b)
        each = fn(out.reshape(g * b, *out.shape[2:]), flat_y, reduction="none").reshape(g, b)
        if not ignored:
            return each.mean(1)
        return each.sum(1) / (y != -100).sum(1)  # NaN for a batch of ignored labels, as PyTorch's mean
    if loss == "bce":
        each = bce_each(out, y)
    elif loss == "bce_with_logits":
        each = torch.nn.functional.binary_cross_entropy_with_logits(out, y, reduction="none")
    elif loss == "mse":
        each = torch.nn.functional.mse_loss(out, y, reduction="none")
    elif loss == "l1":
        each = torch.nn.functional.l1_loss(out, y, reduction="none")
    else:
        each = torch.nn.functional.huber_loss(out, y, reduction="none")
    return each.reshape(g, -1).mean(1)


def _penalties(stack: Stack, l1: torch.Tensor | None, l2: torch.Tensor | None) -> torch.Tensor:
    """l1 * sum |p| + l2 * sum p^2 over each member's parameters: [G] (None: that penalty is 0 for all)."""
    total = torch.zeros(stack.size, device=stack.leaves()[0].device)
    for p in stack.leaves():
        flat = p.reshape(stack.size, -1)
        if l1 is not None:
            total = total + l1 * flat.abs().sum(1)
        if l2 is not None:
            total = total + l2 * flat.pow(2).sum(1)
    return total


def _clip(stack: Stack, max_norm: torch.Tensor) -> None:
    """Per member, torch.nn.utils.clip_grad_norm_: scale gradients so their joint norm <= max_norm."""
    grads = [p.grad for p in stack.leaves() if p.grad is not None]
    if not grads:
        return
    norms = torch.stack([g.reshape(stack.size, -1).pow(2).sum(1) for g in grads]).sum(0).sqrt()  # [G]
    coef = torch.where(torch.isinf(max_norm), torch.ones_like(norms), (max_norm / (norms + 1e-6)).clamp(max=1.0))
    for g in grads:
        g.mul_(coef.reshape(-1, *([1] * (g.dim() - 1))))


def _evaluate(
    stack: Stack,
    x: torch.Tensor,
    y: torch.Tensor,
    loss: str,
    classify: str | None,
    each: list[torch.Tensor] | None = None,
    stop_at: float | None = None,
    clock: Clock = time.monotonic,
) -> tuple[list[float | None], list[float | None]]:
    """Each member's mean loss and accuracy over ``x`` [G, N, ...]; per-sample losses [G, chunk]
    appended to ``each`` when given (classification only). Past ``stop_at`` (a ``clock()`` value)
    the means are over the chunks of 4096 samples done by then."""
    g, n = stack.size, x.shape[1]
    totals = torch.zeros(g, dtype=torch.float64, device=x.device)
    correct = torch.zeros(g, dtype=torch.float64, device=x.device)
    with torch.no_grad():
        for i in range(0, n, 4096):
            if i and stop_at is not None and clock() > stop_at:
                n = i
                break
            out, _ = stack.forward(x[:, i : i + 4096])
            yb = y[:, i : i + 4096]
            totals += member_losses(loss, out, yb).double() * out.shape[1]
            if classify:
                correct += hits(out, yb, classify).double().reshape(g, -1).sum(1)
                if each is not None:
                    b = out.shape[1]
                    flat = per_sample_loss(loss, out.reshape(g * b, *out.shape[2:]), yb.reshape(g * b, *yb.shape[2:]))
                    each.append(flat.reshape(g, b))
    losses = as_floats(totals / max(n, 1))
    accs: list[float | None] = [float(c) / n for c in correct.tolist()] if classify and n else [None] * g
    return losses, accs


def _tensor(values: Sequence[float], device: torch.device) -> torch.Tensor:
    return torch.tensor(list(values), dtype=torch.float32, device=device)


def train_together(
    members: list[Member],
    *,
    instrument_first: bool = False,
    deadline: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    keep_state: bool = False,
    start: StackState | None = None,
    settled: Settled | None = None,
    budget_first: bool = False,
    on_epoch: EpochSink | None = None,
    clock: Clock = time.monotonic,
) -> tuple[list[RunRecord], StackState | None, Parked | None]:
    """Train every member for its (common) epochs and batch size; one record per member.

    ``instrument_first`` attaches the instruments to member 0 (the baseline). ``start``
    continues a finished stack (members and state from ``StackState``) for ``epochs`` more.
    ``settled``: once it says yes for member 0 at an epoch end, the other members stop there
    (``stop_reason`` ``settled``) and come back as ``Parked``, to be continued if need be.
    A member that went non-finite leaves the stack at that epoch's end. Either way the stack
    shrinks, so the members left train at the cost of their own number.

    ``deadline`` (a ``clock()`` value) is looked at every CHECK_EVERY_STEPS steps: past it every
    member stops mid-epoch, keeping the epochs it completed (``stop_reason`` ``deadline``), and the
    final pass over the training data is skipped; initial losses measured past it are over the
    samples evaluated by then. ``budget_first``: at each epoch end, the time per
    epoch so far says whether member 0's remaining epochs still fit before the deadline; once they
    do not, the others stop there (``stop_reason`` ``deadline``) and come back as ``Parked`` with
    reason ``budget``, so member 0 trains on alone; in a long first epoch (EARLY_LOOK_STEPS) the
    same estimate is made from the first steps, and the others are parked as they began
    (``epochs`` 0). ``on_epoch`` is told after each epoch how many
    members trained it and, with ``instrument_first``, member 0's record so far.
    """
    run = StackedTraining(
        members,
        instrument_first=instrument_first,
        deadline=deadline,
        should_stop=should_stop,
        start=start,
        settled=settled,
        budget_first=budget_first,
        on_epoch=on_epoch,
        clock=clock,
    )
    return run.run(keep_state)


class StackedTraining:
    """One stack in training: the state ``train_together``'s loop works on, and its steps as methods.

    ``reference``: the baseline's whole record when it trained before this stack; ``judged``
    members are then compared with it at the same epoch (with ``instrument_first``, with member 0
    as it trains). A judged member that clearly does not recover stops (``stop_reason``
    ``behind``) and is kept in ``behind``, to be continued if the baseline turns out to rise later.
    ``signal``: asked of member 0's record at each epoch end (with ``instrument_first``); once it
    holds, the ``until_signal`` members stop (``stop_reason`` ``answered``) and are kept in
    ``answered``, to be continued if the baseline ends without signal.

    ``live`` maps each position of the (shrinking) stack to its member's index in ``members``;
    ``recs`` holds one record per member, in ``members``' order. The data tensors, penalties and
    generators are per position and shrink with the stack (``shrink``).
    """

    def __init__(
        self,
        members: list[Member],
        *,
        instrument_first: bool = False,
        deadline: float | None = None,
        should_stop: Callable[[], bool] | None = None,
        start: StackState | None = None,
        settled: Settled | None = None,
        budget_first: bool = False,
        on_epoch: EpochSink | None = None,
        clock: Clock = time.monotonic,
        reference: RunRecord | None = None,
        signal: Settled | None = None,
    ) -> None:
        self.started = clock()
        self.reference, self.signal = reference, signal
        self.members, self.deadline, self.should_stop = members, deadline, should_stop
        self.settled, self.budget_first, self.on_epoch, self.clock = settled, budget_first, on_epoch, clock
        self.instrument_first, self.resumed = instrument_first, start is not None
        t0, p0 = members[0].training, members[0].problem
        self.epochs = t0.epochs
        self.device = device = p0.x_train.device
        self.loss, self.classify = p0.loss, p0.accuracy_kind
        if start is None:
            self.stack = Stack.build(
                [m.model for m in members], [m.training.seed for m in members], p0.sample_shape, device
            )
            self.optimizer = StackedOptimizer(
                KINDS[t0.optimizer],
                self.stack.leaves(),
                _tensor([m.training.lr for m in members], device),
                _tensor([m.training.weight_decay for m in members], device),
                _tensor([m.training.momentum for m in members], device),
            )
            self.gens = [torch.Generator().manual_seed(m.training.seed) for m in members]
        else:
            self.stack, self.optimizer = start.stack, start.optimizer
            self.gens = []
            for state in start.generators:
                gen = torch.Generator()
                gen.set_state(state.clone())
                self.gens.append(gen)
        self.l1 = _tensor([m.training.l1 for m in members], device)
        self.l2 = _tensor([m.training.l2 for m in members], device)
        self.clip = _tensor([m.training.grad_clip_norm or math.inf for m in members], device)
        self.x_train = torch.stack([m.problem.x_train for m in members])  # [G, N, *sample]
        self.y_train = torch.stack([m.problem.y_train for m in members])
        self.x_val = torch.stack([m.problem.x_val for m in members])
        self.y_val = torch.stack([m.problem.y_val for m in members])
        self.live = list(range(len(members)))  # the member at each position of the stack, as it shrinks
        self.n, self.bs = p0.n_train, min(t0.batch_size, p0.n_train)
        self._setup()

        kinds = {i: layer.type for i, layer in enumerate(members[0].model.layers)}
        self.owners = [i for i, ps in enumerate(self.stack.params) if ps]
        all_names = layer_names(members[0].model)
        self.names = [all_names[i] for i in self.owners]
        self.watched = [i for i, k in kinds.items() if k in WATCHED_KINDS]
        self.instruments: list[Instrument] = (
            [cls(self.names, kinds) for cls in INSTRUMENTS.values()] if instrument_first and self.owners else []
        )
        self.recs: list[RunRecord] = []
        self.parked: Parked | None = None
        self.behind: list[Parked] = []  # judged members stopped early, one entry per epoch count
        self.answered: list[Parked] = []  # until_signal members stopped once member 0 showed signal
        self.cut = False  # the deadline stopped an epoch mid-way
        self.step = 0
        self.stride = max(1, (self.epochs * -(-self.n // self.bs)) // INSTRUMENTED_STEPS)
        self.ignored = self.loss in CLASS_INDEX_LOSSES and bool((self.y_train == -100).any())
        self.bounds = [(int(b[0]), int(b[-1]) + 1) for b in batch_indices(torch.arange(self.n), self.bs)]
        self.per_epoch = windows_per_epoch(self.epochs, len(self.bounds))
        self.spans = window_spans(len(self.bounds), self.per_epoch)
        self.mid_ends = {hi: lo for lo, hi in self.spans[:-1]}  # windows ending within an epoch: end -> start
        # judged members stopped within an epoch (not kept: they cannot go on from there), with the
        # windows they had trained
        self.dropped: list[tuple[int, int]] = []
        self.loop_started = self.started

    def _setup(self) -> None:
        """What depends on the stack's members, decided once per stack here: a check inside the loop
        would wait for the GPU at every step."""
        self.l1_on = self.l1 if bool((self.l1 != 0).any()) else None
        self.l2_on = self.l2 if bool((self.l2 != 0).any()) else None
        self.penalized = self.l1_on is not None or self.l2_on is not None
        self.clipping = bool(torch.isfinite(self.clip).any())
        self.rows = torch.arange(len(self.live), device=self.device).unsqueeze(1)  # [G, 1] for gathering batches
        sample_bytes = len(self.live) * (
            self.x_train[0, 0].numel() * self.x_train.element_size()
            + self.y_train[0, 0].numel() * self.y_train.element_size()
        )
        self.block = max(1, GATHER_BYTES // (sample_bytes * self.bs))  # batches per gather
        self.probe_x = self.x_train[:1, :PROBE_BATCH]

    def run(self, keep_state: bool = False) -> tuple[list[RunRecord], StackState | None, Parked | None]:
        """Measure at init, then train epoch by epoch, shrinking the stack as members leave or park."""
        self._measure_initial()
        # with budget_first, the members' state before any step: members stopped within the first
        # epoch (too long an epoch to share) are parked as they began
        g = len(self.members)
        initial = (
            (*_select(self.stack, self.optimizer, range(g)), [gen.get_state() for gen in self.gens])
            if self.budget_first and g > 1 and self.deadline is not None and not self.resumed
            else None
        )
        self.loop_started = self.clock()
        for epoch in range(self.epochs):
            if self.should_stop is not None and self.should_stop():
                raise Stopped()
            if self.deadline is not None and self.clock() > self.deadline:
                self.cut = True
                break
            losses, penalties = self._train_epoch(initial)
            initial = None
            if self.cut:
                break  # the epoch was cut short: each record keeps the epochs completed only
            if not self.live:
                break  # every member stopped within the epoch, each finished as it stopped
            finite = self._close_epoch(losses, penalties)
            if not any(finite):
                break
            last = epoch == self.epochs - 1
            now = self.clock()
            if self.deadline is not None and not last and now > self.deadline:
                self._mark_live("deadline")
                break
            if not last:
                self._settle_or_continue(epoch, finite, now)
                if not self.live:
                    break
        return self._end(keep_state)

    def _measure_initial(self) -> None:
        """The initial losses of every member (over the splits' first INITIAL_SAMPLES samples, as the
        plain loop measures them) and the instruments' first look."""
        n = INITIAL_SAMPLES  # as the plain loop: the splits' first samples, a seeded random sample
        # members built from the same model spec and seed on the same data begin alike (most probes
        # change a training setting only): each such group is measured once (a continued stack's
        # members have trained apart, so each is measured)
        firsts: dict[tuple[str, int, int], int] = {}
        same = [
            k if self.resumed else firsts.setdefault((m.model.model_dump_json(), m.training.seed, id(m.problem)), k)
            for k, m in enumerate(self.members)
        ]
        reps = sorted(set(same))
        every = len(reps) == len(same)
        rows = slice(None) if every else torch.tensor(reps, device=self.device)
        sub = self.stack if every else self.stack.subset(reps)
        init_loss, _ = _evaluate(sub, self.x_train[rows, :n], self.y_train[rows, :n], self.loss, self.classify)
        init_val, _ = _evaluate(sub, self.x_val[rows, :n], self.y_val[rows, :n], self.loss, self.classify)
        at = {k: j for j, k in enumerate(reps)}
        self.recs = [
            RunRecord(
                initial_loss=init_loss[at[same[k]]],
                initial_val_loss=init_val[at[same[k]]],
                trainable_params=sum(p[k].numel() for p in self.optimizer.leaves),
            )
            for k in range(len(self.members))
        ]
        self._observe()

    def _first_view(self) -> StepView:
        return StepView(
            [[p[0] for p in self.stack.params[i]] for i in self.owners],
            [[p.grad[0] if p.grad is not None else None for p in self.stack.params[i]] for i in self.owners],
        )

    def _observe(self) -> None:
        """The instruments' end-of-epoch look at member 0's activations, while it is in the stack."""
        if self.instruments and self.live[0] == 0:
            with torch.no_grad():
                _, caught = self.stack.forward(
                    self.probe_x, [[p[:1] for p in layer] for layer in self.stack.params], self.watched
                )
            acts = {i: a[0] for i, a in caught.items()}
            for ins in self.instruments:
                ins.end_epoch(acts)

    def _train_epoch(
        self, initial: tuple[Stack, StackedOptimizer, list[torch.Tensor]] | None
    ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """One epoch of shuffled batches: each batch's data losses [G] and penalties [G]. Sets ``cut``
        when the deadline stops it mid-way; ``initial`` (the members as they began) lets a long first
        epoch park the others as they began (``_too_long_to_share``)."""
        perms = torch.stack([torch.randperm(self.n, generator=gen) for gen in self.gens]).to(self.device)  # [G, N]
        batch_losses: list[torch.Tensor] = []
        penalties: list[torch.Tensor] = []
        regather = False

        def narrowed(keep: list[int]) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
            # the epoch so far, for the members at positions ``keep`` only (the stack shrank to them)
            k = torch.tensor(keep, device=self.device)
            return perms[k], [b[k] for b in batch_losses], [q[k] for q in penalties]

        for b_i, (lo, hi) in enumerate(self.bounds):
            if b_i and b_i % CHECK_EVERY_STEPS == 0:
                if self.should_stop is not None and self.should_stop():
                    raise Stopped()
                now = self.clock()
                if self.deadline is not None and now > self.deadline:
                    self.cut = True
                    break
                if initial is not None and b_i == EARLY_LOOK_STEPS and self._too_long_to_share(now, b_i):
                    self._park_as_begun(initial)
                    perms, batch_losses, penalties = narrowed([0])
                    regather = True
            if b_i in self.mid_ends:
                going = self._look_within_epoch(b_i, batch_losses, penalties)
                if going is not None:
                    if not going:
                        return [], []
                    perms, batch_losses, penalties = narrowed(going)
                    regather = True
            if b_i % self.block == 0 or regather:
                regather = False
                # the shuffled data of the next batches in one gather; each batch is then a slice
                first = lo
                last = self.bounds[min(b_i + self.block, len(self.bounds)) - 1][1]
                xs = self.x_train[self.rows, perms[:, first:last]]
                ys = self.y_train[self.rows, perms[:, first:last]]
            data, pen = self._step(xs[:, lo - first : hi - first], ys[:, lo - first : hi - first])
            batch_losses.append(data)
            if pen is not None:
                penalties.append(pen)
        return batch_losses, penalties

    def _step(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One optimizer step of every member on its batch ``xb`` [G, B, ...]: data losses [G] and
        penalties [G] (None without penalties), detached."""
        out, _ = self.stack.forward(xb)  # [G, B, *out]
        data = member_losses(self.loss, out, yb, self.ignored)  # [G]
        pen = _penalties(self.stack, self.l1_on, self.l2_on) if self.penalized else None
        if self.optimizer.leaves:
            self.optimizer.zero_grad()
            # members are independent: the gradient of the sum is each member's own gradient
            (data + pen if pen is not None else data).sum().backward()
            measured = self.instruments if self.step % self.stride == 0 and self.live[0] == 0 else []
            view = self._first_view() if measured else None
            if view is not None:
                for ins in measured:
                    ins.before_step(view)
            if self.clipping:
                _clip(self.stack, self.clip)
            self.optimizer.step()
            if view is not None:
                for ins in measured:
                    ins.after_step(view)
        self.step += 1
        return data.detach(), pen.detach() if pen is not None else None

    def _too_long_to_share(self, now: float, b_i: int) -> bool:
        """At step ``b_i`` of a long first epoch: member 0's epochs will not fit beside the others."""
        return (
            self.deadline is not None
            and len(self.bounds) >= LONG_EPOCH_STEPS
            and now + (now - self.loop_started) / b_i * (len(self.bounds) * self.epochs - b_i) > self.deadline
        )

    def _park_as_begun(self, initial: tuple[Stack, StackedOptimizer, list[torch.Tensor]]) -> None:
        """The others stop before they have trained (parked as they began) and member 0 goes on alone."""
        stopping = list(range(1, len(self.live)))
        for k in stopping:
            self.recs[k].stop_reason = "deadline"
            self.recs[k].window_loss, self.recs[k].window_ends = [], []  # they begin again from the start
        sub_stack, sub_opt, states = initial
        chosen = _select(sub_stack, sub_opt, stopping)
        self.parked = Parked(
            StackState(*chosen, [states[k] for k in stopping], [self.members[k] for k in stopping]),
            stopping,
            0,
            "budget",
        )
        self.shrink([0])

    def _close_epoch(self, batch_losses: list[torch.Tensor], penalties: list[torch.Tensor]) -> list[bool]:
        """Append the epoch's losses, penalty and validation to each live member's record; whether each
        position's loss is finite (a member that went non-finite gets ``stop_reason`` ``non_finite``)."""
        losses = torch.stack(batch_losses, 1)  # [G, batches]
        last_window = as_floats(losses[:, self.spans[-1][0] :].mean(1))
        # every member in the stack was finite when this epoch began: the ones that went
        # non-finite in it leave after it
        finite = self._append_epoch(list(range(len(self.live))), losses, penalties)
        for pos, k in enumerate(self.live):
            rec = self.recs[k]
            rec.window_loss.append(last_window[pos])
            rec.window_ends.append(self.step)
            if not finite[pos]:
                rec.stop_reason = "non_finite"
        self._observe()
        if self.on_epoch is not None:
            self.on_epoch(len(self.live), self.recs[0] if self.instrument_first and self.live[0] == 0 else None)
        return finite

    def _append_epoch(self, positions: list[int], losses: torch.Tensor, penalties: list[torch.Tensor]) -> list[bool]:
        """Append an epoch, or the part of one trained, to the records of the members at ``positions``:
        each batch's loss and their mean (``losses`` [len(positions), batches]), the mean penalty
        (``penalties``: per batch, over the whole stack) and the validation after it. Whether each
        one's mean loss is finite."""
        every = len(positions) == len(self.live)
        rows = slice(None) if every else torch.tensor(positions, device=self.device)
        pens = torch.stack(penalties, 1)[rows].mean(1) if penalties else torch.zeros(len(positions), device=self.device)
        sub = self.stack if every else self.stack.subset(positions)
        val, acc = _evaluate(sub, self.x_val[rows], self.y_val[rows], self.loss, self.classify)
        # one copy to Python per epoch: a float() per member and value would wait on each
        steps_now, means_now, pens_now = losses.double().tolist(), losses.mean(1).tolist(), pens.tolist()
        finite = [math.isfinite(v) for v in means_now]
        for j, pos in enumerate(positions):
            rec = self.recs[self.live[pos]]
            rec.step_loss.extend(v if math.isfinite(v) else None for v in steps_now[j])
            rec.train_loss.append(means_now[j] if finite[j] else None)
            rec.penalty.append(pens_now[j])
            rec.val_loss.append(val[j])
            rec.val_acc.append(acc[j])
        return finite

    def _settle_or_continue(self, epoch: int, finite: list[bool], now: float) -> None:
        """At the end of a not-last ``epoch``: a member that went non-finite leaves (its maths is its
        own); once member 0's verdict is settled, or its remaining epochs no longer fit before the
        deadline beside the others, the others stop and are parked; the stack shrinks to the rest."""
        gone = [pos for pos in range(len(self.live)) if not finite[pos]]
        leading = self.parked is None and self.live[0] == 0 and len(self.live) > 1 and finite[0]
        settle = self.settled is not None and leading and self.settled(self.recs[0])
        over = self.budget_first and not settle and leading and self._remaining_do_not_fit(epoch, now)
        stopping = [pos for pos in range(1, len(self.live)) if finite[pos]] if settle or over else []
        if stopping:
            self.parked = self._park(stopping, epoch + 1, "settled" if settle else "budget")
        behind = [] if stopping else self._behind(finite)
        if behind:
            self.behind.append(self._park(behind, epoch + 1, "behind"))
        answered = [] if stopping else [pos for pos in self._answered(finite) if pos not in behind]
        if answered:
            self.answered.append(self._park(answered, epoch + 1, "answered"))
        if gone:
            self._finish(gone)
        if gone or stopping or behind or answered:
            left = set(gone) | set(stopping) | set(behind) | set(answered)
            self._go_on_with([pos for pos in range(len(self.live)) if pos not in left])

    def _behind(self, finite: list[bool], within_epoch: bool = False) -> list[int]:
        """Positions of the judged members that clearly do not recover against the baseline here: at
        the end of a judge window (``worker.engine.train.windows``), compared window by window with the
        baseline's at the same steps; at an epoch end, where the baseline's windows were not the same
        steps (another batch size or length), epoch by epoch."""
        if self.reference is not None:
            base = self.reference
        elif self.instrument_first and self.live[0] == 0 and finite[0]:
            base = self.recs[0]
        else:
            return []
        known = self.reference is not None  # trained before: its later windows are known
        out = []
        for pos, k in enumerate(self.live):
            if k == 0 and not known or not finite[pos] or not self.members[k].judged:
                continue
            rec, chance = self.recs[k], self.members[k].problem.chance
            if base.window_ends[: len(rec.window_ends)] == rec.window_ends:
                curve, theirs, looks, span = (
                    rec.window_loss,
                    base.window_loss,
                    self.epochs * self.per_epoch,
                    self.per_epoch,
                )
            elif within_epoch:
                continue
            else:
                curve, theirs, looks, span = rec.train_loss, base.train_loss, self.epochs, 1
            if clearly_behind(curve, theirs, chance, looks, theirs[len(curve) :] if known else None, span):
                out.append(pos)
        return out

    def _look_within_epoch(
        self, b_i: int, batch_losses: list[torch.Tensor], penalties: list[torch.Tensor]
    ) -> list[int] | None:
        """At the end of a judge window within an epoch (``b_i`` of its steps done): the window's loss
        joins each record, and the judged members clearly behind stop here. The positions to go on
        with when any stopped (empty when none is left), else None."""
        lo = self.mid_ends[b_i]
        window = as_floats(torch.stack(batch_losses[lo:b_i], 1).mean(1))
        for pos, k in enumerate(self.live):
            self.recs[k].window_loss.append(window[pos])
            self.recs[k].window_ends.append(self.step)
        behind = self._behind([v is not None for v in window], within_epoch=True)
        if not behind:
            return None
        self._stop_within_epoch(behind, batch_losses, penalties)
        keep = [pos for pos in range(len(self.live)) if pos not in behind]
        self._go_on_with(keep)
        return keep

    def _stop_within_epoch(
        self, stopping: list[int], batch_losses: list[torch.Tensor], penalties: list[torch.Tensor]
    ) -> None:
        """The members at positions ``stopping`` stop within an epoch (``stop_reason`` ``behind``): its
        part so far is their last epoch (its batches' mean loss, validation after it)."""
        losses = torch.stack(batch_losses, 1)[torch.tensor(stopping, device=self.device)]  # [S, batches so far]
        self._append_epoch(stopping, losses, penalties)
        for pos in stopping:
            k = self.live[pos]
            self.recs[k].stop_reason = "behind"
            self.dropped.append((k, len(self.recs[k].window_loss)))
        self._finish(stopping, final_pass=False)

    def _answered(self, finite: list[bool]) -> list[int]:
        """Positions of the ``until_signal`` members, once member 0 (the baseline, beside them) shows signal."""
        if self.signal is None or not self.instrument_first or self.live[0] != 0 or not finite[0]:
            return []
        out = [pos for pos, k in enumerate(self.live) if k != 0 and finite[pos] and self.members[k].until_signal]
        return out if out and self.signal(self.recs[0]) else []

    def _remaining_do_not_fit(self, epoch: int, now: float) -> bool:
        """At ``now``, after ``epoch``: the time per epoch so far, at the stack's present size, says
        member 0's remaining epochs would not fit before the deadline."""
        return (
            self.deadline is not None
            and now + (now - self.loop_started) / (epoch + 1) * (self.epochs - epoch - 1) > self.deadline
        )

    def _park(self, stopping: list[int], epochs: int, reason: str) -> Parked:
        """Stop the members at positions ``stopping`` after ``epochs`` epochs, kept to go on later."""
        stop: StopReason = PARKED_STOP_REASONS[reason]
        for pos in stopping:
            self.recs[self.live[pos]].stop_reason = stop
        # a probe stopped as not recovering, or as answered, needs no accuracy over the training data
        self._finish(stopping, final_pass=reason in ("settled", "budget"))
        sub_stack, sub_opt = _select(self.stack, self.optimizer, stopping)
        return Parked(
            StackState(
                sub_stack,
                sub_opt,
                [self.gens[pos].get_state() for pos in stopping],
                [self.members[self.live[pos]] for pos in stopping],
            ),
            [self.live[pos] for pos in stopping],
            epochs,
            reason,
        )

    def _go_on_with(self, keep: list[int]) -> None:
        """The stack shrinks to the members at positions ``keep``; with none, every member has left
        (each finished as it left)."""
        if keep:
            self.shrink(keep)
        else:
            self.live = []

    def shrink(self, keep: list[int]) -> None:
        """Go on with the members at positions ``keep`` only."""
        self.stack, self.optimizer = _select(self.stack, self.optimizer, keep)
        idx = torch.tensor(keep, device=self.device)
        self.x_train, self.y_train = self.x_train[idx], self.y_train[idx]
        self.x_val, self.y_val = self.x_val[idx], self.y_val[idx]
        self.l1, self.l2, self.clip = self.l1[idx], self.l2[idx], self.clip[idx]
        self.gens = [self.gens[k] for k in keep]
        self.live = [self.live[k] for k in keep]
        self._setup()

    def _mark_live(self, reason: StopReason) -> None:
        """Every live member that would have completed stopped for ``reason`` instead."""
        for k in self.live:
            if self.recs[k].stop_reason == "completed":
                self.recs[k].stop_reason = reason

    def _finish(self, positions: list[int], final_pass: bool = True) -> None:
        """Final accuracy, parameter norm and time of the members at ``positions``; ``final_pass``:
        measure the accuracy and fit shares with a pass over the training data."""
        if len(positions) == self.stack.size:
            sub, xs, ys = self.stack, self.x_train, self.y_train
        else:
            idx = torch.tensor(positions, device=self.device)
            sub, xs, ys = self.stack.subset(positions), self.x_train[idx], self.y_train[idx]
        each: list[torch.Tensor] = []
        classify = self.classify
        train_acc = (
            _evaluate(sub, xs, ys, self.loss, classify, each)[1] if classify and final_pass else [None] * sub.size
        )
        per_sample = torch.cat(each, dim=1) if each else None  # [G', N]
        with torch.no_grad():
            norms = (
                torch.stack([p.reshape(sub.size, -1).double().pow(2).sum(1) for p in sub.leaves()]).sum(0).sqrt()
                if sub.leaves()
                else None
            )
        for j, pos in enumerate(positions):
            rec = self.recs[self.live[pos]]
            rec.train_acc = train_acc[j]
            rec.fit_share, rec.misfit_share = fit_shares(
                per_sample[j] if per_sample is not None else None, self.members[self.live[pos]].problem.chance
            )
            rec.steps_run = len(rec.step_loss)
            rec.step_loss = thin(rec.step_loss)
            norm = float(norms[j]) if norms is not None else math.nan
            rec.param_norm = norm if math.isfinite(norm) else None
            rec.seconds = (self.clock() - self.started) / len(self.members)

    def _end(self, keep_state: bool) -> tuple[list[RunRecord], StackState | None, Parked | None]:
        """Finish the members still in the stack; their end state when ``keep_state``."""
        if self.cut:
            self._mark_live("deadline")
            for k in self.live:  # the records keep the epochs completed only
                rec = self.recs[k]
                rec.window_loss = rec.window_loss[: len(rec.train_loss) * self.per_epoch]
                rec.window_ends = rec.window_ends[: len(rec.train_loss) * self.per_epoch]
        if self.live:
            self._finish(list(range(len(self.live))), final_pass=not self.cut)
        if self.instruments:
            record_instruments(self.recs[0], self.instruments, self.names)
        kept = (
            StackState(
                self.stack, self.optimizer, [gen.get_state() for gen in self.gens], [self.members[k] for k in self.live]
            )
            if keep_state and self.live
            else None
        )
        return self.recs, kept, self.parked


def _select(stack: Stack, optimizer: StackedOptimizer, positions: Sequence[int]) -> tuple[Stack, StackedOptimizer]:
    """Copies of the stack and its optimizer for the members at ``positions`` only."""
    sub = stack.subset(positions)
    idx = torch.tensor(list(positions), device=sub.leaves()[0].device if sub.leaves() else None)
    return sub, optimizer.select(idx, [p for p in sub.leaves() if p.requires_grad])


def continue_members(state: StackState, which: Sequence[int], epochs: int) -> StackState:
    """A stack of the members ``which`` of a stopped stack, ready to train ``epochs`` more, each with
    its own settings."""
    sub, optimizer = _select(state.stack, state.optimizer, which)
    members = [
        Member(
            state.members[k].model,
            state.members[k].training.model_copy(update={"epochs": epochs}),
            state.members[k].problem,
            False,
        )
        for k in which
    ]
    return StackState(sub, optimizer, [state.generators[k] for k in which], members)
