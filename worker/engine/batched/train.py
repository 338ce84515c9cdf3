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
from worker.diagnosis.record import RunRecord
from worker.engine.batched.optim import KINDS, StackedOptimizer
from worker.engine.batched.stack import Stack
from worker.engine.instruments import INSTRUMENTS, WATCHED_KINDS, Instrument, StepView
from worker.engine.instruments.base import as_floats
from worker.engine.model import layer_names
from worker.engine.train.loop import (
    CHECK_EVERY_STEPS,
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


@dataclass(frozen=True)
class Member:
    """One run of a stack: its model spec (init and seed), training settings and data."""

    model: ModelSpec
    training: TrainingSpec
    problem: Problem


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
    ``reason``: ``settled`` (the first member's verdict was settled) or ``budget`` (the first
    member's remaining epochs would not have fit before the deadline with them beside it).
    """

    state: StackState
    which: list[int]
    epochs: int
    reason: str = "settled"


#: Bytes of shuffled training data gathered at once (all members); batches are slices of it.
GATHER_BYTES = 64 * 2**20

#: With ``budget_first``, steps into the first epoch at which its time is first estimated (later than
#: the first steps, which are slower than the rest), in epochs of at least four times as many steps:
#: when member 0's epochs will not fit at that rate, it goes on alone at once.
EARLY_LOOK_STEPS = 32

#: Asked at each epoch end with the first member's record so far: may the others stop now?
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
    started = clock()
    t0, p0 = members[0].training, members[0].problem
    device = p0.x_train.device
    g = len(members)
    loss = p0.loss
    classify = p0.accuracy_kind
    if start is None:
        stack = Stack.build([m.model for m in members], [m.training.seed for m in members], p0.sample_shape, device)
        optimizer = StackedOptimizer(
            KINDS[t0.optimizer],
            stack.leaves(),
            _tensor([m.training.lr for m in members], device),
            _tensor([m.training.weight_decay for m in members], device),
            _tensor([m.training.momentum for m in members], device),
        )
        gens = [torch.Generator().manual_seed(m.training.seed) for m in members]
    else:
        stack, optimizer = start.stack, start.optimizer
        gens = []
        for state in start.generators:
            gen = torch.Generator()
            gen.set_state(state.clone())
            gens.append(gen)
    l1 = _tensor([m.training.l1 for m in members], device)
    l2 = _tensor([m.training.l2 for m in members], device)
    clip = _tensor([m.training.grad_clip_norm or math.inf for m in members], device)
    x_train = torch.stack([m.problem.x_train for m in members])  # [G, N, *sample]
    y_train = torch.stack([m.problem.y_train for m in members])
    x_val = torch.stack([m.problem.x_val for m in members])
    y_val = torch.stack([m.problem.y_val for m in members])
    live = list(range(g))  # the member at each position of the stack, as it shrinks

    n, bs = p0.n_train, min(t0.batch_size, p0.n_train)

    def setup() -> tuple[torch.Tensor | None, torch.Tensor | None, bool, bool, torch.Tensor, int]:
        # decided once per stack, here: a check inside the loop would wait for the GPU at every step
        l1_on = l1 if bool((l1 != 0).any()) else None
        l2_on = l2 if bool((l2 != 0).any()) else None
        rows = torch.arange(len(live), device=device).unsqueeze(1)  # [G, 1] for gathering batches
        sample_bytes = len(live) * (
            x_train[0, 0].numel() * x_train.element_size() + y_train[0, 0].numel() * y_train.element_size()
        )
        block = max(1, GATHER_BYTES // (sample_bytes * bs))  # batches per gather
        return (l1_on, l2_on, l1_on is not None or l2_on is not None, bool(torch.isfinite(clip).any()), rows, block)

    l1_on, l2_on, penalized, clipping, rows, block = setup()

    kinds = {i: layer.type for i, layer in enumerate(members[0].model.layers)}
    owners = [i for i, ps in enumerate(stack.params) if ps]
    all_names = layer_names(members[0].model)
    names = [all_names[i] for i in owners]
    watched = [i for i, k in kinds.items() if k in WATCHED_KINDS]
    instruments: list[Instrument] = (
        [cls(names, kinds) for cls in INSTRUMENTS.values()] if instrument_first and owners else []
    )
    probe_x = x_train[:1, :PROBE_BATCH]

    def first_view() -> StepView:
        return StepView(
            [[p[0] for p in stack.params[i]] for i in owners],
            [[p.grad[0] if p.grad is not None else None for p in stack.params[i]] for i in owners],
        )

    def observe() -> None:
        if instruments and live[0] == 0:
            with torch.no_grad():
                _, caught = stack.forward(probe_x, [[p[:1] for p in layer] for layer in stack.params], watched)
            acts = {i: a[0] for i, a in caught.items()}
            for ins in instruments:
                ins.end_epoch(acts)

    # a big stack on much data: the initial losses are over the samples evaluated by the deadline
    init_loss, _ = _evaluate(stack, x_train, y_train, loss, classify, stop_at=deadline, clock=clock)
    init_val, _ = _evaluate(stack, x_val, y_val, loss, classify, stop_at=deadline, clock=clock)
    recs = [
        RunRecord(
            initial_loss=init_loss[k],
            initial_val_loss=init_val[k],
            trainable_params=sum(p[k].numel() for p in optimizer.leaves),
        )
        for k in range(g)
    ]
    observe()

    def finish(positions: list[int], final_pass: bool = True) -> None:
        """Final accuracy, parameter norm and time of the members at ``positions``; ``final_pass``:
        measure the accuracy and fit shares with a pass over the training data."""
        if len(positions) == stack.size:
            sub, xs, ys = stack, x_train, y_train
        else:
            idx = torch.tensor(positions, device=device)
            sub, xs, ys = stack.subset(positions), x_train[idx], y_train[idx]
        each: list[torch.Tensor] = []
        train_acc = _evaluate(sub, xs, ys, loss, classify, each)[1] if classify and final_pass else [None] * sub.size
        per_sample = torch.cat(each, dim=1) if each else None  # [G', N]
        with torch.no_grad():
            norms = (
                torch.stack([p.reshape(sub.size, -1).double().pow(2).sum(1) for p in sub.leaves()]).sum(0).sqrt()
                if sub.leaves()
                else None
            )
        for j, pos in enumerate(positions):
            rec = recs[live[pos]]
            rec.train_acc = train_acc[j]
            rec.fit_share, rec.misfit_share = fit_shares(
                per_sample[j] if per_sample is not None else None, members[live[pos]].problem.chance
            )
            rec.step_loss = thin(rec.step_loss)
            norm = float(norms[j]) if norms is not None else math.nan
            rec.param_norm = norm if math.isfinite(norm) else None
            rec.seconds = (clock() - started) / g

    def shrink(keep: list[int]) -> None:
        """Go on with the members at positions ``keep`` only."""
        nonlocal stack, optimizer, x_train, y_train, x_val, y_val, l1, l2, clip, gens, live
        nonlocal l1_on, l2_on, penalized, clipping, rows, block, probe_x
        stack, optimizer = _select(stack, optimizer, keep)
        idx = torch.tensor(keep, device=device)
        x_train, y_train, x_val, y_val = x_train[idx], y_train[idx], x_val[idx], y_val[idx]
        l1, l2, clip = l1[idx], l2[idx], clip[idx]
        gens = [gens[k] for k in keep]
        live = [live[k] for k in keep]
        l1_on, l2_on, penalized, clipping, rows, block = setup()
        probe_x = x_train[:1, :PROBE_BATCH]

    ignored = loss in CLASS_INDEX_LOSSES and bool((y_train == -100).any())
    bounds = [(int(b[0]), int(b[-1]) + 1) for b in batch_indices(torch.arange(n), bs)]  # contiguous positions
    stride = max(1, (t0.epochs * -(-n // bs)) // INSTRUMENTED_STEPS)
    step = 0
    parked: Parked | None = None
    cut = False
    # with budget_first, the members' state before any step: members stopped within the first epoch
    # (too long an epoch to share) are parked as they began
    initial = (
        (*_select(stack, optimizer, range(g)), [gen.get_state() for gen in gens])
        if budget_first and g > 1 and deadline is not None and start is None
        else None
    )
    loop_started = clock()
    for epoch in range(t0.epochs):
        if should_stop is not None and should_stop():
            raise Stopped()
        if deadline is not None and clock() > deadline:
            cut = True
            break
        perms = torch.stack([torch.randperm(n, generator=gen) for gen in gens]).to(device)  # [G, N]
        batch_losses: list[torch.Tensor] = []
        penalties: list[torch.Tensor] = []
        regather = False
        for b_i, (lo, hi) in enumerate(bounds):
            if b_i and b_i % CHECK_EVERY_STEPS == 0:
                if should_stop is not None and should_stop():
                    raise Stopped()
                now = clock()
                if deadline is not None and now > deadline:
                    cut = True
                    break
                if (
                    initial is not None
                    and deadline is not None
                    and b_i == EARLY_LOOK_STEPS
                    and len(bounds) >= 4 * EARLY_LOOK_STEPS
                    and now + (now - loop_started) / b_i * (len(bounds) * t0.epochs - b_i) > deadline
                ):
                    # one epoch is long enough that member 0's epochs will not fit beside the others:
                    # they stop before they have trained (parked as they began) and it goes on alone
                    stopping = list(range(1, len(live)))
                    for k in stopping:
                        recs[k].stop_reason = "deadline"
                    sub_stack, sub_opt, states = initial
                    chosen = _select(sub_stack, sub_opt, stopping)
                    parked = Parked(
                        StackState(*chosen, [states[k] for k in stopping], [members[k] for k in stopping]),
                        stopping,
                        0,
                        "budget",
                    )
                    shrink([0])
                    keep = torch.tensor([0], device=device)
                    perms = perms[keep]
                    batch_losses = [b[keep] for b in batch_losses]
                    penalties = [q[keep] for q in penalties]
                    regather = True
            if b_i % block == 0 or regather:
                regather = False
                # the shuffled data of the next batches in one gather; each batch is then a slice
                first = lo
                last = bounds[min(b_i + block, len(bounds)) - 1][1]
                xs, ys = x_train[rows, perms[:, first:last]], y_train[rows, perms[:, first:last]]
            out, _ = stack.forward(xs[:, lo - first : hi - first])  # [G, B, *out]
            data = member_losses(loss, out, ys[:, lo - first : hi - first], ignored)  # [G]
            pen = _penalties(stack, l1_on, l2_on) if penalized else None
            if optimizer.leaves:
                optimizer.zero_grad()
                # members are independent: the gradient of the sum is each member's own gradient
                (data + pen if pen is not None else data).sum().backward()
                measured = instruments if step % stride == 0 and live[0] == 0 else []
                view = first_view() if measured else None
                if view is not None:
                    for ins in measured:
                        ins.before_step(view)
                if clipping:
                    _clip(stack, clip)
                optimizer.step()
                if view is not None:
                    for ins in measured:
                        ins.after_step(view)
            step += 1
            batch_losses.append(data.detach())
            if pen is not None:
                penalties.append(pen.detach())
        initial = None
        if cut:
            # the epoch was cut short: each record keeps the epochs completed only
            break
        losses = torch.stack(batch_losses, 1)  # [G, batches]
        means = losses.mean(1)
        pen_means = torch.stack(penalties, 1).mean(1) if penalties else torch.zeros(len(live), device=device)
        val, acc = _evaluate(stack, x_val, y_val, loss, classify)
        # one copy to Python per epoch: a float() per member and value would wait on each
        steps_now, means_now, pens_now = losses.double().tolist(), means.tolist(), pen_means.tolist()
        # every member in the stack was finite when this epoch began: the ones that went
        # non-finite in it leave below
        finite = [math.isfinite(v) for v in means_now]
        for pos, k in enumerate(live):
            rec = recs[k]
            rec.step_loss.extend(v if math.isfinite(v) else None for v in steps_now[pos])
            rec.train_loss.append(means_now[pos] if finite[pos] else None)
            rec.penalty.append(pens_now[pos])
            rec.val_loss.append(val[pos])
            rec.val_acc.append(acc[pos])
            if not finite[pos]:
                rec.stop_reason = "non_finite"
        observe()
        if on_epoch is not None:
            on_epoch(len(live), recs[0] if instrument_first and live[0] == 0 else None)
        if not any(finite):
            break
        last = epoch == t0.epochs - 1
        now = clock()
        if deadline is not None and not last and now > deadline:
            for k in live:
                if recs[k].stop_reason == "completed":
                    recs[k].stop_reason = "deadline"
            break
        # a member that went non-finite leaves (its maths is its own); once the first member's
        # verdict is settled, the others stop and are parked
        gone = [pos for pos in range(len(live)) if not finite[pos]]
        settle = (
            settled is not None
            and not last
            and parked is None
            and live[0] == 0
            and len(live) > 1
            and finite[0]
            and settled(recs[0])
        )
        # the time per epoch so far, at the stack's present size, says whether member 0's
        # remaining epochs still fit before the deadline; if not, it trains on alone
        over = (
            budget_first
            and deadline is not None
            and not settle
            and not last
            and parked is None
            and live[0] == 0
            and len(live) > 1
            and finite[0]
            and now + (now - loop_started) / (epoch + 1) * (t0.epochs - epoch - 1) > deadline
        )
        stopping = [pos for pos in range(1, len(live)) if finite[pos]] if settle or over else []
        if stopping:
            for pos in stopping:
                recs[live[pos]].stop_reason = "settled" if settle else "deadline"
            finish(stopping)
            sub_stack, sub_opt = _select(stack, optimizer, stopping)
            parked = Parked(
                StackState(
                    sub_stack,
                    sub_opt,
                    [gens[pos].get_state() for pos in stopping],
                    [members[live[pos]] for pos in stopping],
                ),
                [live[pos] for pos in stopping],
                epoch + 1,
                "settled" if settle else "budget",
            )
        if gone and not last:
            finish(gone)
        if (gone or stopping) and not last:
            shrink([pos for pos in range(len(live)) if pos not in gone and pos not in stopping])

    if cut:
        for k in live:
            if recs[k].stop_reason == "completed":
                recs[k].stop_reason = "deadline"
    finish(list(range(len(live))), final_pass=not cut)
    if instruments:
        record_instruments(recs[0], instruments, names)
    kept = (
        StackState(stack, optimizer, [gen.get_state() for gen in gens], [members[k] for k in live])
        if keep_state
        else None
    )
    return recs, kept, parked


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
        )
        for k in which
    ]
    return StackState(sub, optimizer, [state.generators[k] for k in which], members)
