"""``Monitor``: checks a team's own PyTorch training loop while it runs, and says what is wrong with it.

    monitor = Monitor(model, optimizer)            # after building both
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        monitor.step(loss)                          # after each optimizer.step()
    monitor.summary()                               # offline: a Diagnosis, findings with numbers and a fix

Every step (cheap: a few Python calls per parameter tensor per backward pass, no tensor copies) it
records the loss, how the loss was made (from the model, or a detached copy), how many backward passes
reached the model and whether they found the gradients cleared, and which parameters got a gradient.
On sampled steps (the first ``warmup`` and then every ``every``-th) it adds the heavier readings: global
and per-layer gradient L2 norms, update-to-weight ratios (a copy of the weights is kept across the step),
which parameters changed, non-finite gradients, and the share of dead units after each ReLU module
(forward hooks, only on sampled steps). ``worker.diagnosis.monitor_rules`` turns the records into findings.

With ``client=Client(...)`` the records also stream to the service (``POST /v1/runs``, then
``/v1/runs/{id}/telemetry`` in chunks, from a background thread) and ``diagnose()`` returns the
service's diagnosis of them (``GET /v1/runs/{id}``); the service runs the same rules.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

import torch
from torch import nn

from lossdoctor.client import Client
from lossdoctor.errors import LossdoctorError
from lossdoctor.models import Diagnosis
from lossdoctor.monitor.hooks import GradientWatch, ReluWatch
from lossdoctor.monitor.sender import CHUNK_STEPS, TelemetrySender
from lossdoctor.monitor.setup import RELU_TYPES, read_setup, trainable
from worker.contract.telemetry import MAX_LAYERS, MAX_NAMES, MonitorSetup, StepRecord
from worker.diagnosis.monitor_rules import diagnose_run

#: Heavier readings every this many steps, by default.
EVERY = 10
#: Steps at the start that are all sampled, so the invariants are checked from the first step.
WARMUP = 10
#: Calls of ``step`` without an optimizer step in between that count as micro-batches of one step; past
#: this many the call is recorded anyway (with ``optimizer_steps`` 0: the optimizer never steps).
MAX_MICRO_BATCHES = 64
#: Records kept in memory: the first ``HEAD_RECORDS`` and the latest ``TAIL_RECORDS``.
HEAD_RECORDS, TAIL_RECORDS = 1_000, 19_000

log = logging.getLogger("lossdoctor.monitor")


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def read_loss(loss: Any) -> tuple[float | None, str]:
    """The loss as a number (None when non-finite) and where it came from (``StepRecord.loss_graph``)."""
    if isinstance(loss, torch.Tensor):
        value = loss.item() if loss.numel() == 1 else float(loss.detach().float().mean())
        kind = "no_grad" if not loss.requires_grad else "leaf" if loss.grad_fn is None else "graph"
        return _finite(value), kind
    return _finite(float(loss)), "number"


class Monitor:
    """Watches ``model`` trained by ``optimizer``; call ``step(loss)`` after each ``optimizer.step()``.

    ``every``: heavier readings every this many steps (``every=1``: on every step, hooks included);
    ``warmup``: the first steps, all sampled; ``client``: stream the records to the service as run
    ``name``, ``chunk_steps`` records per request.
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        every: int = EVERY,
        warmup: int = WARMUP,
        client: Client | None = None,
        name: str | None = None,
        chunk_steps: int = CHUNK_STEPS,
    ) -> None:
        if every < 1 or warmup < 0:
            raise ValueError(f"every must be at least 1 and warmup at least 0, got every={every}, warmup={warmup}")
        self.model, self.optimizer, self.every, self.warmup = model, optimizer, every, warmup
        self.params = trainable(model)
        self.setup: dict[str, Any] = read_setup(model, optimizer, every=every, warmup=warmup)
        index = {id(p): i for i, (_, p) in enumerate(self.params)}
        #: modules that own trainable parameters directly, with those parameters' indices
        self.layers = [
            (name, [index[id(p)] for p in m.parameters(recurse=False) if id(p) in index])
            for name, m in model.named_modules()
        ][:MAX_LAYERS]
        self.layers = [(name, idx) for name, idx in self.layers if idx]
        self.grads = GradientWatch(self.params)
        self.relus = ReluWatch([(n, m) for n, m in model.named_modules() if isinstance(m, RELU_TYPES)])
        self.steps = 0
        self._head: list[dict[str, Any]] = []
        self._tail: deque[dict[str, Any]] = deque(maxlen=TAIL_RECORDS)
        self._before: list[torch.Tensor] | None = None
        self.client, self.run_id, self.sender = client, None, None
        if client is not None:
            try:
                self.run_id = client.create_run(self.setup, name=name).id
                self.sender = TelemetrySender(client, self.run_id, chunk_steps=chunk_steps)
            except LossdoctorError as exc:
                log.warning("the run could not be created on %s, so the monitor works offline: %s", client.url, exc)
        #: optimizer steps since the last record; None when the optimizer cannot tell (no step hooks)
        self._optimizer_steps: int | None = None
        self._deferred = 0
        self._step_hook = None
        if hasattr(optimizer, "register_step_post_hook"):
            self._optimizer_steps = 0
            self._step_hook = optimizer.register_step_post_hook(self._optimizer_stepped)
        self._arm(1)

    def _optimizer_stepped(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        if self._optimizer_steps is not None:
            self._optimizer_steps += 1

    # ---- the loop's one call ----------------------------------------------------------------------

    def sampled(self, step: int) -> bool:
        """Whether ``step`` (1-based) takes the heavier readings."""
        return step <= self.warmup or step % self.every == 0

    def _arm(self, step: int) -> None:
        """Prepare the interval that ends at ``step``: hooks and a copy of the weights if it is sampled."""
        sampled = self.sampled(step)
        self.grads.reset(sampled)
        if sampled:
            self.relus.arm()
            with torch.no_grad():
                self._before = [p.detach().clone() for _, p in self.params]
        else:
            self._before = None

    def step(self, loss: Any) -> None:
        """Record the optimizer step that just happened; ``loss`` is its loss (a tensor, or a number).

        Called after a micro-batch's backward pass instead (the optimizer has not stepped since the last
        call), it is part of the coming step: the interval stays open until the optimizer steps.
        """
        opt_steps = self._optimizer_steps
        if opt_steps == 0 and self._deferred < MAX_MICRO_BATCHES:
            self._deferred += 1
            return
        self.steps += 1
        t = self.steps
        value, kind = read_loss(loss)
        passes, cleared = self.grads.interval()
        with_grad = sum(1 for c in self.grads.counts if c > 0)
        record: dict[str, Any] = {
            "step": t,
            "loss": value,
            "loss_graph": kind,
            "backward_passes": passes,
            "cleared_passes": cleared,
            "params_with_grad": with_grad,
        }
        if opt_steps is not None:
            record["optimizer_steps"] = opt_steps
            self._optimizer_steps, self._deferred = 0, 0
        if self._before is not None:
            record.update(self._readings(self._before))
        anomalous = value is None or with_grad == 0 or (t > 1 and passes > 0 and cleared == 0) or opt_steps == 0
        if record.get("sampled") or anomalous:
            self._keep(record)
        self._arm(t + 1)

    def _readings(self, before: list[torch.Tensor]) -> dict[str, Any]:
        """The sampled step's heavier readings, from the interval's gradients and the weights before it."""
        grads, names = self.grads, [n for n, _ in self.params]
        moved: list[float] = []
        sizes: list[float] = []
        grad_norms: list[float] = []
        if before:
            device = before[0].device
            zero = before[0].new_zeros((), dtype=torch.float32)
            with torch.no_grad():
                # (3, n_tensors), read back in one sync: distance moved, size before, gradient L2 norm
                table = torch.stack(
                    [
                        torch.stack(
                            [
                                torch.linalg.vector_norm(p.detach() - b).float().to(device)
                                for (_, p), b in zip(self.params, before, strict=True)
                            ]
                        ),
                        torch.stack([torch.linalg.vector_norm(b).float().to(device) for b in before]),
                        torch.stack([zero if g is None else g.float().to(device) for g in grads.norms]),
                    ]
                )
            moved, sizes, grad_norms = table.tolist()
        finite = all(math.isfinite(g) for g in grad_norms)
        grad_sq = [g * g if math.isfinite(g) else 0.0 for g in grad_norms]
        dead = self.relus.take()
        layers: list[dict[str, Any]] = []
        for name, idx in self.layers:
            size = math.sqrt(sum(sizes[i] ** 2 for i in idx))
            ratio = _finite(math.sqrt(sum(moved[i] ** 2 for i in idx)) / size) if size else None
            layers.append(
                {"name": name, "grad_norm": _finite(math.sqrt(sum(grad_sq[i] for i in idx))), "update_ratio": ratio}
            )
        layers += [{"name": name, "dead_fraction": min(1.0, max(0.0, share))} for name, share in dead.items()]
        total = math.sqrt(sum(s**2 for s in sizes))
        lrs = [float(g.get("lr", 0.0)) for g in self.optimizer.param_groups]
        return {
            "sampled": True,
            "grad_norm": _finite(math.sqrt(sum(grad_sq))) if finite else None,
            "grad_finite": finite,
            "update_ratio": _finite(math.sqrt(sum(m**2 for m in moved)) / total) if total else None,
            "changed": sum(1 for m in moved if m != 0),  # NaN counts: a step that made weights NaN changed them
            "without_grad": [names[i] for i, c in enumerate(grads.counts) if c == 0][:MAX_NAMES],
            "unchanged": [names[i] for i, m in enumerate(moved) if m == 0 and grad_sq[i] > 0][:MAX_NAMES],
            "lr": max(lrs) if lrs else None,
            "layers": layers[:MAX_LAYERS],
        }

    def _keep(self, record: dict[str, Any]) -> None:
        if len(self._head) < HEAD_RECORDS:
            self._head.append(record)
        else:
            self._tail.append(record)
        if self.sender is not None:
            self.sender.add(record)

    # ---- what it found ----------------------------------------------------------------------------

    @property
    def records(self) -> list[dict[str, Any]]:
        """The step records kept: every sampled step and every step that broke an invariant."""
        return [*self._head, *self._tail]

    def summary(self) -> Diagnosis:
        """The diagnosis of the steps so far, computed here (no service needed)."""
        setup = MonitorSetup.model_validate(self.setup)
        steps = [StepRecord.model_validate(r) for r in self.records]
        return Diagnosis.model_validate(diagnose_run(setup, steps))

    def diagnose(self) -> Diagnosis:
        """The service's diagnosis of the run (after sending what is queued); ``summary()`` without a client.
        Raises ``LossdoctorError`` when the service cannot answer (``summary()`` always can)."""
        if self.client is None or self.run_id is None or self.sender is None:
            return self.summary()
        self.sender.flush()
        run = self.client.get_run(self.run_id)
        return run.diagnosis if run.diagnosis is not None else self.summary()

    def close(self) -> None:
        """Remove every hook and send what is still queued."""
        if self._step_hook is not None:
            self._step_hook.remove()
            self._step_hook = None
        self.grads.remove()
        self.relus.remove()
        if self.sender is not None:
            self.sender.flush()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
