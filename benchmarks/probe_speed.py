"""What a full diagnosis costs against one plain training run of the same config.

    .venv/bin/python benchmarks/probe_speed.py [--repeat 3] [--device cpu] [--case NAME ...] [--code DIR]
    .venv/bin/python benchmarks/probe_speed.py --budget-share 0.25 --case "wide MLP 512x3"

For each case, in a fresh process each (so peak memory is the run's own): (a) one plain PyTorch
training of the spec's config, written the way a user would (a loop over shuffled mini-batches,
the validation loss after each epoch), and (b) a full ``"probes": "auto"`` diagnosis through
``worker.engine.job.run_job``. Both are warmed up with a one-epoch run first; times exclude imports.
The plain run and the diagnosis alternate, so that both see the same spells of load from other
work on the machine. Prints a table (case, probe trainings run and how many of them stopped early,
plain seconds, diagnosis seconds, the ratio of the medians, the same ratio in process CPU time,
peak memory) and rewrites its section of ``benchmarks/RESULTS.md``.

``--case`` runs only the named cases (a substring of the name will do); ``--code DIR`` runs the
diagnosis from another checkout (e.g. an export of an older commit, to compare); ``--budget-share``
also diagnoses each case's healthy spec and its injected faults (lr too high, lr too low,
over-regularization) with ``budget_seconds`` at that share of the plain run, against the same
spec with the whole budget: whether it finished inside the budget and named the same primary cause
(or ``inconclusive``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
START, END = "<!-- probe_speed:start -->", "<!-- probe_speed:end -->"
#: The issue's target: a diagnosis costs at most this many plain runs...
TARGET_RATIO = 1.5
#: ...with at least this many probe trainings.
TARGET_PROBES = 12


def _mlp(hidden: list[int], out: int) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = []
    for h in hidden:
        layers += [{"type": "linear", "out_features": h}, {"type": "relu"}]
    return layers + [{"type": "linear", "out_features": out}]


def cases() -> dict[str, dict[str, Any]]:
    """The benchmark's job specs by name."""
    examples = {
        f"example {p.stem}": json.loads(p.read_text())
        for p in sorted((ROOT / "examples").glob("*.json"))
        if p.stem in ("lr_1e-3", "init_zeros", "l2_1")
    }
    train = {"loss": "cross_entropy", "optimizer": "adam", "lr": 0.001, "batch_size": 32, "seed": 0}
    return {
        **examples,
        "digits MLP 64, 30 epochs": {
            "data": {"source": "builtin", "name": "digits"},
            "model": {"layers": _mlp([64], 10)},
            "training": {**train, "epochs": 30},
        },
        "digits CNN": {
            "data": {"source": "builtin", "name": "digits", "shape": [1, 8, 8]},
            "model": {
                "layers": [
                    {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1},
                    {"type": "relu"},
                    {"type": "maxpool2d", "kernel_size": 2},
                    {"type": "flatten"},
                    {"type": "linear", "out_features": 10},
                ]
            },
            "training": {**train, "epochs": 10},
        },
        "wide MLP 256x2, 20k samples": {
            "data": {
                "source": "synthetic",
                "name": "classification",
                "n_samples": 20000,
                "n_features": 20,
                "n_classes": 4,
                "seed": 0,
            },
            "model": {"layers": _mlp([256, 256], 4)},
            "training": {**train, "batch_size": 128, "epochs": 8},
        },
        "wide MLP 512x3, 60k samples, 10 epochs": {
            "data": {
                "source": "synthetic",
                "name": "classification",
                "n_samples": 60000,
                "n_features": 20,
                "n_classes": 4,
                "seed": 0,
            },
            "model": {"layers": _mlp([512, 512, 512], 4)},
            "training": {**train, "batch_size": 128, "epochs": 10},
            "budget_seconds": 3600,
        },
    }


#: The faults injected into a case's healthy spec for ``--budget-share``: training fields changed.
FAULTS: dict[str, dict[str, Any]] = {
    "healthy": {},
    "lr too high": {"lr": 0.5},
    "lr too low": {"lr": 1e-6},
    "over-regularization": {"l2": 1.0},
}


PLAIN = r"""
import json, resource, sys, time
import numpy as np, torch
from worker.data import load, split
from worker.engine.model import build_model
from worker.contract.spec import JobSpec
from worker.engine.train.problem import make_problem

spec = JobSpec.model_validate(json.loads(sys.argv[1]))
device = torch.device(sys.argv[2])
torch.set_num_threads(int(sys.argv[3]))
raw = load(spec.data)
parts = split(raw, spec.data.validation_fraction, spec.data.seed)
xt, yt = torch.tensor(parts.x_train, device=device), torch.tensor(parts.y_train, device=device)
xv, yv = torch.tensor(parts.x_val, device=device), torch.tensor(parts.y_val, device=device)
t = spec.training

def run(epochs):
    torch.manual_seed(t.seed)
    model = build_model(spec.model, tuple(xt.shape[1:]), seed=t.seed).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=t.lr)
    for _ in range(epochs):
        perm = torch.randperm(len(xt), device=device)
        for i in range(0, len(xt), t.batch_size):
            idx = perm[i:i + t.batch_size]
            loss = torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            if t.l2:
                loss = loss + t.l2 * sum(p.pow(2).sum() for p in model.parameters())
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            val = torch.nn.functional.cross_entropy(model(xv), yv).item()
    return val

run(1)
if device.type == "cuda":
    torch.cuda.synchronize()
t0, c0 = time.perf_counter(), time.process_time()
run(t.epochs)
if device.type == "cuda":
    torch.cuda.synchronize()
print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0, "probes": 0,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "threads": torch.get_num_threads()}))
"""

DIAGNOSE = r"""
import json, resource, sys, time
import torch
from worker.engine.job import run_job
from worker.contract.spec import JobSpec

payload = json.loads(sys.argv[1])
payload["device"] = sys.argv[2]
torch.set_num_threads(int(sys.argv[3]))
warm = dict(payload, training=dict(payload["training"], epochs=1), probes=["shuffled_labels"])
run_job(JobSpec.model_validate(warm))
spec = JobSpec.model_validate(payload)
t0, c0 = time.perf_counter(), time.process_time()
result = run_job(spec, cpu_threads=int(sys.argv[3]))
result = result.as_json() if hasattr(result, "as_json") else result  # an older checkout returns a dict
base = result["baseline"]["summary"]
# steps an epoch at the spec's batch size (an older checkout does not count steps: whole epochs then)
per_epoch = base["steps_run"] / base["epochs_run"] if base.get("steps_run") and base["epochs_run"] else None

def epochs_run(p):
    steps = p["summary"].get("steps_run")
    if not steps or not per_epoch:
        return p["summary"]["epochs_run"]
    batch = p["changes"].get("training.batch_size", spec.training.batch_size)
    return steps / (per_epoch * spec.training.batch_size / batch)

print(json.dumps({"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
                  "probes": len(result["probes"]),
                  "settled": sum(p["stop_reason"] == "settled" for p in result["probes"]),
                  "behind": sum(p["stop_reason"] == "behind" for p in result["probes"]),
                  "answered": sum(p["stop_reason"] == "answered" for p in result["probes"]),
                  "epochs_run": round(sum(epochs_run(p) for p in result["probes"]), 1),
                  "epochs_planned": sum(p["changes"].get("training.epochs", spec.training.epochs)
                                        for p in result["probes"]),
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "threads": torch.get_num_threads(), "primary": result["diagnosis"]["primary_cause"],
                  "healthy": result["diagnosis"]["healthy"]}))
"""


BUDGETED = r"""
import json, sys, time
import torch
from worker.engine.job import run_job
from worker.contract.spec import JobSpec

payload = json.loads(sys.argv[1])
payload["device"] = sys.argv[2]
spec = JobSpec.model_validate(payload)
t0 = time.perf_counter()
result = run_job(spec, cpu_threads=int(sys.argv[3]))
result = result.as_json() if hasattr(result, "as_json") else result  # an older checkout returns a dict
d = result["diagnosis"]
print(json.dumps({"seconds": time.perf_counter() - t0, "probes": len(result["probes"]),
                  "primary": d["primary_cause"] or ("healthy" if d["healthy"] else "inconclusive"),
                  "basis": d.get("verdict_basis")}))
"""


def measure(code: str, spec: dict[str, Any], device: str, threads: int, root: Path = ROOT) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter on ``spec`` with the checkout ``root``; its one JSON line of figures."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec), device, str(threads)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=3600,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def budget_rows(
    name: str, spec: dict[str, Any], plain_s: float, share: float, args: argparse.Namespace, healthy: dict[str, Any]
) -> list[str]:
    """Table rows: each fault of ``spec`` diagnosed with the whole budget and with ``share`` of ``plain_s``;
    ``healthy``: the spec's own diagnosis with the whole budget, measured already."""
    out = []
    for fault, change in FAULTS.items():
        faulty = dict(spec, training=dict(spec["training"], **change))
        full = healthy if not change else measure(BUDGETED, faulty, args.device, args.threads, args.code)
        budget = round(share * plain_s, 1)
        cut = measure(BUDGETED, dict(faulty, budget_seconds=budget), args.device, args.threads, args.code)
        same = cut["primary"] == full["primary"] or cut["primary"] == "inconclusive"
        inside = cut["seconds"] <= budget
        row = (
            f"| {name} | {fault} | {full['primary']} | {full['seconds']:.1f} | {budget:.1f} | {cut['seconds']:.1f} | "
            f"{'yes' if inside else 'no'} | {cut['primary']} ({cut['probes']} probes) | {'yes' if same else 'no'} |"
        )
        print(row, flush=True)
        out.append(row)
    return out


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the median is reported")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads, the same for both runs")
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    ap.add_argument("--case", action="append", help="run only the cases whose name contains this (repeatable)")
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout whose engine the diagnosis runs")
    ap.add_argument(
        "--budget-share", type=float, default=None, help="also diagnose each case and its faults at this share of a run"
    )
    args = ap.parse_args(argv)
    rows = []
    budget_table: list[str] = []
    chosen = {n: s for n, s in cases().items() if not args.case or any(c in n for c in args.case)}
    for name, spec in chosen.items():
        plain, diag = [], []
        for _ in range(args.repeat):
            # interleaved, so that both see the same spells of load from other work on the machine
            plain.append(measure(PLAIN, spec, args.device, args.threads))
            diag.append(measure(DIAGNOSE, spec, args.device, args.threads, args.code))
        p = statistics.median(r["seconds"] for r in plain)
        d = statistics.median(r["seconds"] for r in diag)
        cpu_ratio = statistics.median(r["cpu_seconds"] for r in diag) / statistics.median(
            r["cpu_seconds"] for r in plain
        )
        rows.append(
            {
                "case": name,
                "probes": diag[0]["probes"],
                "settled": diag[0]["settled"],
                "behind": diag[0].get("behind", 0),
                "answered": diag[0].get("answered", 0),
                "epochs": f"{diag[0].get('epochs_run', '?')} / {diag[0].get('epochs_planned', '?')}",
                "plain_s": p,
                "diagnosis_s": d,
                "ratio": d / p,
                "cpu_ratio": cpu_ratio,
                "plain_mb": max(r["peak_mb"] for r in plain),
                "diagnosis_mb": max(r["peak_mb"] for r in diag),
                "primary": diag[0]["primary"],
                "threads": (plain[0]["threads"], diag[0]["threads"]),
            }
        )
        r = rows[-1]
        print(
            f"{name:32s} probes {r['probes']:3d} ({r['settled']} settled, {r['behind']} behind, "
            f"{r['answered']} answered)  plain {p:7.3f}s  "
            f"diagnosis {d:7.3f}s  "
            f"ratio {r['ratio']:5.2f} (CPU {r['cpu_ratio']:5.2f})  "
            f"peak {r['plain_mb']:.0f}/{r['diagnosis_mb']:.0f} MB  ({r['primary']})",
            flush=True,
        )
        if args.budget_share is not None:
            first = diag[0]
            label = first["primary"] or ("healthy" if first.get("healthy") else "inconclusive")
            healthy = {"seconds": first["seconds"], "primary": label, "probes": first["probes"]}
            budget_table += budget_rows(name, spec, p, args.budget_share, args, healthy)
    met = all(r["ratio"] <= TARGET_RATIO and r["probes"] >= TARGET_PROBES for r in rows)
    table = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu_name()} ({os.cpu_count()} cores), code "
        f"{code_version()}, device {args.device}, median of {args.repeat}, {args.threads} torch thread(s) for "
        f"both, load average {os.getloadavg()[0]:.2f} at the end. Target: ratio <= "
        f"{TARGET_RATIO} with >= {TARGET_PROBES} probe trainings: {'met' if met else 'not met'} on every case.",
        "",
        "| case | probe trainings | stopped early: settled / behind / answered | probe epochs run / planned | "
        "plain s | diagnosis s | ratio | CPU-time ratio | peak MB plain / diagnosis | primary cause |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        *[
            f"| {r['case']} | {r['probes']} | {r['settled']} / {r['behind']} / {r['answered']} | {r['epochs']} | "
            f"{r['plain_s']:.3f} | "
            f"{r['diagnosis_s']:.3f} | "
            f"{r['ratio']:.2f} | {r['cpu_ratio']:.2f} | {r['plain_mb']:.0f} / {r['diagnosis_mb']:.0f} | "
            f"{r['primary'] or 'healthy'} |"
            for r in rows
        ],
    ]
    if budget_table:
        table += [
            "",
            f"With `budget_seconds` at {args.budget_share:g} of the plain run (beside: the same spec, whole budget):",
            "",
            "| case | fault | primary, whole budget | s | budget s | took s | inside | primary, cut budget | same |",
            "| --- | --- | --- | ---: | ---: | ---: | --- | --- | --- |",
            *budget_table,
        ]
    print("\n".join(table))
    if not args.no_write:
        write_section(f"## Probe speed ({args.device})\n\n" + "\n".join(table) + "\n")
    return 0


def code_version() -> str:
    """The measured commit, and whether worker/ differs from it in the working tree."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "worker"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"`{commit}`" + (" with uncommitted changes to worker/" if changed else "")


def write_section(body: str) -> None:
    """Replace this script's section of RESULTS.md, leaving the rest of the file as it is."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    block = f"{START}\n{body}{END}"
    if START in text and END in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
