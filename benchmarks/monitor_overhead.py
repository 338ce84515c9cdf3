"""What ``lossdoctor.Monitor`` adds to each step of a training loop, on CPU.

    .venv/bin/python benchmarks/monitor_overhead.py [--steps 300] [--rounds 5] [--threads 1] [--write]

For a small CNN (two 3x3 convolutions on 1x28x28 inputs) and an MLP (784-256-256-10), batch 64, SGD
with momentum: the same loop timed plain, with ``Monitor(model, optimizer)`` (default settings: the
first 10 steps and every 10th sampled) and with ``Monitor(..., every=1)`` (every reading and the ReLU
forward hooks on every step). The three take turns step by step, so that they see the same load from
other work on the machine; a round times ``--steps`` steps of each after 20 warm-up steps; the table gives
the median round, in process CPU time (what the loop itself costs; with torch on one thread it is the loop's own
time, unlike wall time on a machine shared with other work) and in wall time. Prints a table and, with
``--write``, replaces its section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lossdoctor.monitor import Monitor  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- monitor_overhead:start -->", "<!-- monitor_overhead:end -->"
BATCH = 64
WARMUP_STEPS = 20


def cnn() -> nn.Module:
    """(B, 1, 28, 28) → (B, 10); about 20 k parameters."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 7 * 7, 10),
    )


def mlp() -> nn.Module:
    """(B, 1, 28, 28) → (B, 10) through 784-256-256-10; about 270 k parameters."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )


MODELS: dict[str, Callable[[], nn.Module]] = {"small CNN": cnn, "MLP 784-256-256-10": mlp}
#: Monitor settings per variant: None is the plain loop.
VARIANTS: dict[str, dict[str, Any] | None] = {"plain": None, "monitor (default)": {}, "monitor (every=1)": {"every": 1}}


class Loop:
    """One model, its optimizer and, unless ``options`` is None, a ``Monitor`` with those options."""

    def __init__(self, make: Callable[[], nn.Module], options: dict[str, Any] | None) -> None:
        torch.manual_seed(0)
        self.model = make()
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.monitor = Monitor(self.model, self.optimizer, **options) if options is not None else None

    def step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        """One training step; its (process CPU, wall) seconds."""
        cpu, wall = time.process_time(), time.perf_counter()
        self.optimizer.zero_grad()
        loss = F.cross_entropy(self.model(x), y)
        loss.backward()
        self.optimizer.step()
        if self.monitor is not None:
            self.monitor.step(loss)
        return time.process_time() - cpu, time.perf_counter() - wall


def time_round(make: Callable[[], nn.Module], steps: int) -> dict[str, tuple[float, float]]:
    """(process CPU, wall) seconds per step of each variant over ``steps`` steps after the warm-up; the
    variants take turns step by step, so load from other work falls on all of them alike."""
    loops = {variant: Loop(make, options) for variant, options in VARIANTS.items()}
    x, y = torch.randn(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))
    totals = {variant: [0.0, 0.0] for variant in loops}
    for step in range(WARMUP_STEPS + steps):
        for variant, loop in loops.items():
            cpu, wall = loop.step(x, y)
            if step >= WARMUP_STEPS:
                totals[variant][0] += cpu
                totals[variant][1] += wall
    for loop in loops.values():
        if loop.monitor is not None:
            loop.monitor.close()
    return {variant: (cpu / steps, wall / steps) for variant, (cpu, wall) in totals.items()}


Medians = dict[str, dict[str, tuple[float, float]]]


def measure(steps: int, rounds: int) -> Medians:
    """Median (CPU, wall) seconds per step for each model and variant."""
    times: dict[str, dict[str, list[tuple[float, float]]]] = {m: {v: [] for v in VARIANTS} for m in MODELS}
    for _ in range(rounds):
        for model_name, make in MODELS.items():
            for variant, per_step in time_round(make, steps).items():
                times[model_name][variant].append(per_step)
    return {
        m: {v: (statistics.median(c for c, _ in t), statistics.median(w for _, w in t)) for v, t in per.items()}
        for m, per in times.items()
    }


def table(medians: Medians) -> list[str]:
    lines = [
        "| model | loop | CPU per step (ms) | added CPU per step (ms) | added | wall per step (ms) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for model_name, per in medians.items():
        plain = per["plain"][0]
        for variant, (cpu, wall) in per.items():
            added = "" if variant == "plain" else f"{1000 * (cpu - plain):.3f}"
            share = "" if variant == "plain" else f"{100 * (cpu - plain) / plain:+.1f}%"
            lines.append(f"| {model_name} | {variant} | {1000 * cpu:.3f} | {added} | {share} | {1000 * wall:.3f} |")
    return lines


def header(steps: int, rounds: int, threads: int, load_before: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    cpu = platform.processor() or platform.machine()
    return (
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {cpu}, {os.cpu_count()} cores, torch {torch.__version__} "
        f"with {threads} thread(s), Python {platform.python_version()}, code `{commit.stdout.strip()}`. Batch "
        f"{BATCH}, SGD with momentum, median of {rounds} rounds of {steps} steps (after {WARMUP_STEPS} warm-up "
        f"steps); the three loops take turns step by step. Load average before: {load_before}."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    medians = measure(args.steps, args.rounds)
    load_after = " ".join(f"{v:.2f}" for v in os.getloadavg())
    lines = table(medians)
    sys.stdout.write("\n".join(lines) + "\n")
    if args.write:
        section = "\n".join(
            [
                START,
                "## Monitor overhead (`benchmarks/monitor_overhead.py`)",
                "",
                header(args.steps, args.rounds, args.threads, load) + f" After: {load_after}.",
                "",
                *lines,
                END,
            ]
        )
        text = RESULTS.read_text()
        if START in text and END in text:
            text = text[: text.index(START)] + section + text[text.index(END) + len(END) :]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
        RESULTS.write_text(text)


if __name__ == "__main__":
    main()
